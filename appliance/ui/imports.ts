/** Imports as rows of a table (History, Overview): outcome, bundle, source, when, and the error of a failed one. */
import type { ImportRecord } from '../state/store.js';
import { type Html, badge, digest, html, rows, when } from '../../src/ui/html.js';

export function importRows(records: ImportRecord[], now: Date, empty = 'No import yet.'): Html {
  return rows(
    ['Import', 'Outcome', 'Bundle', 'Source', 'Started', 'Error'],
    records.map((r) => [
      html`<a class="nowrap" href="/ui/imports/${r.id}">${r.id}</a>`,
      html`${badge(r.state)}${r.idempotent ? html` <span class="muted">already in force</span>` : ''}`,
      r.name ? html`${r.name} <span class="muted">${r.channel ?? ''} · seq ${r.sequence ?? ''}</span>` : html`<span class="muted">not read</span>`,
      source(r.source),
      html`<span class="nowrap">${when(r.startedAt, now)}</span>`,
      r.error ? html`<span class="error"><strong>${r.error.code}</strong>: ${r.error.message}</span>` : html``,
    ]),
    { empty },
  );
}

/**
 * Where an import came from: a media path as its file name (the whole path in the title), a re-apply as the held bundle it
 * applied again, anything else ("upload (resumable)") as it is.
 */
export function source(text: string): Html {
  if (text.startsWith('reapply:')) return html`held bundle ${digest(text.slice('reapply:'.length))}`;
  const slash = text.lastIndexOf('/');
  if (slash < 0 || slash === text.length - 1) return html`<span class="mono">${text}</span>`;
  return html`<span class="mono" title="${text}">${text.slice(slash + 1)}</span>`;
}
