/** Imports as rows of a table (History, Overview): outcome, bundle, source, when, and the error of a failed one. */
import type { ImportRecord } from '../state/store.js';
import { type Html, badge, html, rows, when } from './html.js';

export function importRows(records: ImportRecord[], now: Date, empty = 'No import yet.'): Html {
  return rows(
    ['Import', 'Outcome', 'Bundle', 'Source', 'Started', 'Error'],
    records.map((r) => [
      html`<a href="/ui/imports/${r.id}">${r.id}</a>`,
      html`${badge(r.state)}${r.idempotent ? html` <span class="muted">already in force</span>` : ''}`,
      r.name ? html`${r.name} <span class="muted">${r.channel ?? ''} · seq ${r.sequence ?? ''}</span>` : html`<span class="muted">not read</span>`,
      html`<span class="mono">${r.source}</span>`,
      when(r.startedAt, now),
      r.error ? html`<span class="error"><strong>${r.error.code}</strong>: ${r.error.message}</span>` : html``,
    ]),
    { empty },
  );
}
