/** HTML built from escaped template strings, and the page frame every UI page shares. */
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

const NAV: [string, string][] = [
  ['/ui/', 'Overview'],
  ['/ui/import', 'Import'],
  ['/ui/history', 'History'],
  ['/ui/cluster', 'Cluster'],
  ['/ui/registry', 'Registry'],
  ['/ui/trust', 'Trust'],
  ['/ui/audit', 'Audit'],
  ['/ui/users', 'Users'],
];

export function page(title: string, body: Html, user?: PageUser, current = '', banner?: { level: string; text: string }): string {
  const nav = user
    ? html`<nav><span class="brand">airlock</span>${NAV.map(([href, label]) => html`<a href="${href}" ${href === current ? new Html('aria-current="page"') : ''}>${label}</a>`)}
        <form method="post" action="/ui/logout" class="logout"><input type="hidden" name="_csrf" value="${user.csrf}"><span>${user.name} (${user.role})</span><button>Sign out</button></form></nav>`
    : html`<nav><span class="brand">airlock</span></nav>`;
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · airlock</title><link rel="stylesheet" href="/ui/static/app.css"><link rel="icon" href="/ui/static/icon.svg">
${user ? html`<meta name="csrf-token" content="${user.csrf}">` : ''}<script src="/ui/static/app.js" defer></script></head>
<body>${nav}${banner ? html`<p class="banner ${banner.level}" role="alert">${banner.text}</p>` : ''}<main><h1>${title}</h1>${body}</main></body></html>`}`;
}

export function badge(value: string): Html {
  return html`<span class="badge ${value.toLowerCase()}">${value}</span>`;
}

export function short(digest: string | null | undefined): string {
  if (!digest) return '';
  return digest.startsWith('sha256:') ? `sha256:${digest.slice(7, 19)}` : digest.slice(0, 12);
}
