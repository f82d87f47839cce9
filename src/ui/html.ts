/** HTML built from escaped template strings, the page frame every UI page shares, and the pieces pages are made of. */
import { type Level, relative } from './format.js';

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function escape(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** `html\`<p>${value}</p>\``: values are escaped unless they are Html themselves (or arrays of them). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

function render(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === undefined || v === null || v === false) return '';
  return escape(v);
}

export interface PageUser {
  name: string;
  role: string;
  csrf: string;
}

/** The navigation of a UI: its links (path, label) and, for a signed-in user, the sign-out form's action. */
export interface Nav {
  links: [string, string][];
  logout: string;
}

/** The page frame; `nav` is the UI's own (the appliance's pages, the fleet page's). */
export function page(title: string, body: Html, user: PageUser | undefined, current: string, banner: { level: string; text: string } | undefined, nav: Nav): string {
  const bar = user
    ? html`<nav><span class="brand">airlock</span>${nav.links.map(([href, label]) => html`<a href="${href}" ${href === current ? new Html('aria-current="page"') : ''}>${label}</a>`)}
        <form method="post" action="${nav.logout}" class="logout"><input type="hidden" name="_csrf" value="${user.csrf}"><span>${user.name} (${user.role})</span><button>Sign out</button></form></nav>`
    : html`<nav><span class="brand">airlock</span></nav>`;
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · airlock</title><link rel="stylesheet" href="/ui/static/app.css"><link rel="icon" href="/ui/static/icon.svg">
${user ? html`<meta name="csrf-token" content="${user.csrf}">` : ''}<script src="/ui/static/app.js" defer></script></head>
<body>${bar}${banner ? html`<p class="banner ${banner.level}" role="alert">${banner.text}</p>` : ''}<main><h1>${title}</h1>${body}</main></body></html>`}`;
}

/**
 * A status badge. With a label it reads "Sync: Unknown" (the label is part of the text, so screen readers and a
 * copy of the page say what the value is about); without one it sits under a column header that says it.
 */
export function badge(value: string, label?: string): Html {
  const cls = value.toLowerCase().replace(/[^a-z]/g, '');
  return label
    ? html`<span class="badge ${cls}"><span class="badge-label">${label}:</span> ${value}</span>`
    : html`<span class="badge ${cls}">${value}</span>`;
}

export function short(digest: string | null | undefined): string {
  if (!digest) return '';
  return digest.startsWith('sha256:') ? `sha256:${digest.slice(7, 19)}` : digest.slice(0, 12);
}

/** A digest shown short, the whole of it in the title and for copying. */
export function digest(value: string | null | undefined): Html {
  if (!value) return html``;
  return html`<span class="mono" title="${value}">${short(value)}</span>`;
}

/** "3 hours ago" in a <time> whose title is the exact time (UTC). */
export function when(iso: string | null | undefined, now: Date): Html {
  if (!iso) return html``;
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return html`${iso}`;
  return html`<time datetime="${at.toISOString()}" title="${exact(at)}">${relative(at, now)}</time>`;
}

/** The exact time as text, how long ago in the title (for logs, where the time itself matters). */
export function at(iso: string, now: Date): Html {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return html`${iso}`;
  return html`<time class="nowrap" datetime="${t.toISOString()}" title="${relative(t, now)}">${exact(t)}</time>`;
}

/** "2026-11-30 07:24:04 UTC". */
export function exact(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * A table of records: a real table on wide screens, a stack of cards on narrow ones, each value labelled by its
 * column (`data-label`, shown by the style sheet). An empty header makes an unlabelled cell (buttons).
 */
export type Cell = Html | string | number | null | undefined;

export function rows(headers: string[], body: Cell[][], opts: { id?: string; empty?: string; className?: string } = {}): Html {
  if (!body.length && opts.empty) return html`<p class="card muted"${opts.id ? new Html(` id="${escape(opts.id)}"`) : ''}>${opts.empty}</p>`;
  return html`<table class="rows${opts.className ? ` ${opts.className}` : ''}"${opts.id ? new Html(` id="${escape(opts.id)}"`) : ''}><thead><tr>${headers.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${body.map(
    (cells) => html`<tr>${cells.map((c, i) => (headers[i] ? html`<td data-label="${headers[i]}">${c}</td>` : html`<td class="actions">${c}</td>`))}</tr>`,
  )}</tbody></table>`;
}

/** Name and value pairs as a definition list: two columns on wide screens, stacked on narrow ones. */
export function facts(pairs: [string, Cell][], id?: string): Html {
  return html`<dl class="facts"${id ? new Html(` id="${escape(id)}"`) : ''}>${pairs.map(([k, v]) => html`<div><dt>${k}</dt><dd>${v ?? ''}</dd></div>`)}</dl>`;
}

/** A notice in the style of its level (ok, warn, error); warnings and errors are announced. */
export function notice(level: Level, text: Html | string, id?: string): Html {
  const role = level === 'ok' ? '' : new Html(level === 'error' ? ' role="alert"' : ' role="status"');
  return html`<p class="notice ${level}"${role}${id ? new Html(` id="${escape(id)}"`) : ''}>${text}</p>`;
}
