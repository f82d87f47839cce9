/**
 * The fleet page's views, pure: the overview (states, wave progress, sites grouped by a label), the list of sites
 * (filtered and paged: a page of 10,000 sites is a slice, never the whole), and one site's detail. Built from the
 * UI kit the appliance uses (src/ui).
 */
import { Html, type Nav, badge, digest, facts, html, notice, rows, when } from '../ui/html.js';
import { STATES, type ChannelHead, type SiteStatus, type State, type StatusRow, countStates, groupBy } from './status.js';
import type { FleetWave } from './fleet-file.js';

export const FLEET_NAV: Nav = {
  links: [
    ['/ui/', 'Overview'],
    ['/ui/sites', 'Sites'],
    ['/ui/users', 'Users'],
  ],
  logout: '/ui/logout',
};
export const PAGE_SIZE = 100;

export interface FleetSnapshot {
  sites: SiteStatus[];
  byName: Map<string, SiteStatus>;
  heads: Map<string, ChannelHead>;
  waves: FleetWave[];
  generated: Date;
  source: string;
  /** The last refresh's failure, when the snapshot is older than it should be. */
  error?: string;
}

function stateBadges(counts: Record<State, number>, link: (s: State) => string): Html {
  return html`<p class="states">${STATES.map((s) => html`<a href="${link(s)}">${badge(s)} ${counts[s]}</a> `)}</p>`;
}

function query(params: Record<string, string | number | undefined>): string {
  const q = Object.entries(params).filter(([, v]) => v !== undefined && v !== '');
  return q.length ? `?${q.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&')}` : '';
}

/** Label keys present on the sites, most common first (for "group by"). */
export function labelKeys(sites: SiteStatus[]): string[] {
  const n = new Map<string, number>();
  for (const s of sites) for (const k of Object.keys(s.labels)) n.set(k, (n.get(k) ?? 0) + 1);
  return [...n].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k]) => k);
}

export function overviewPage(snap: FleetSnapshot, by: string | undefined, now: Date): Html {
  const counts = countStates(snap.sites);
  const keys = labelKeys(snap.sites);
  const label = by && keys.includes(by) ? by : keys[0];
  const waves = snap.waves.map((w) => {
    const members = snap.sites.filter((s) => s.wave === w.name);
    const c = countStates(members);
    return [html`<a href="/ui/sites${query({ wave: w.name })}">${w.name}</a>`, members.length, c.current, c.behind, c.degraded, c.stale, c['never-reported'], c.untrusted, `${members.length ? Math.round((c.current / members.length) * 100) : 0}%`];
  });
  const groups = label ? groupBy(snap.sites, label) : [];
  return html`${snap.error ? notice('error', `The last refresh failed: ${snap.error}. Showing what was read ${snap.generated.toISOString()}.`) : ''}
<section class="card" id="summary">${facts([
    ['Sites', snap.sites.length],
    ['Read from', snap.source],
    ['As of', when(snap.generated.toISOString(), now)],
    ...[...snap.heads.values()].map((h): [string, Html] => [`Head of ${h.channel}`, html`sequence ${h.sequence} ${digest(h.root)}`]),
  ])}${stateBadges(counts, (s) => `/ui/sites${query({ state: s })}`)}</section>
<h2>Waves</h2>
${rows(['Wave', 'Sites', 'Current', 'Behind', 'Degraded', 'Stale', 'Never reported', 'Untrusted', 'On the head'], waves, { id: 'waves', empty: 'The fleet file lists no waves.' })}
<h2>Sites by ${label ?? 'label'}</h2>
${keys.length > 1 ? html`<form method="get" action="/ui/" class="inline"><label for="by">Group by</label> <select id="by" name="by">${keys.map((k) => html`<option ${k === label ? new Html('selected') : ''}>${k}</option>`)}</select> <button>Show</button></form>` : ''}
${rows(
    [label ?? 'Label', 'Sites', ...STATES.map((s) => s)],
    groups.map((g) => [html`<a href="/ui/sites${query({ label: `${g.label}=${g.value}` })}">${g.value || '(none)'}</a>`, g.sites, ...STATES.map((s) => g.counts[s])]),
    { id: 'groups', empty: 'The sites have no labels.' },
  )}`;
}

export interface SiteFilter {
  state?: string;
  wave?: string;
  /** `KEY=VALUE`. */
  label?: string;
  q?: string;
  page: number;
}

export function filterSites(sites: SiteStatus[], f: SiteFilter): SiteStatus[] {
  const eq = f.label?.indexOf('=') ?? -1;
  const [lk, lv] = f.label && eq > 0 ? [f.label.slice(0, eq), f.label.slice(eq + 1)] : [undefined, undefined];
  const q = f.q?.toLowerCase();
  return sites.filter(
    (s) =>
      (!f.state || s.state === f.state) &&
      (!f.wave || s.wave === f.wave) &&
      (lk === undefined || (s.labels[lk] ?? '') === lv) &&
      (!q || s.name.includes(q)),
  );
}

export function sitesPage(snap: FleetSnapshot, f: SiteFilter, now: Date): Html {
  const matching = filterSites(snap.sites, f);
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  const page = Math.min(Math.max(1, f.page), pages);
  const slice = matching.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  const keep = { state: f.state, wave: f.wave, label: f.label, q: f.q };
  const body = slice.map((s) => {
    const release = s.rows.find((r) => r.release)?.release;
    return [
      html`<a href="/ui/sites/${encodeURIComponent(s.name)}">${s.name}</a>`,
      badge(s.state),
      s.wave ?? '(none)',
      release ? html`${release.name} ${release.sequence ?? ''} ${digest(release.root)}` : '',
      s.rows.length,
      s.rows.reduce((n, r) => n + r.drifted, 0),
      s.lastReport ? when(s.lastReport, now) : 'never',
    ];
  });
  return html`<form method="get" action="/ui/sites" class="inline" id="filter">
<label for="q">Site</label> <input id="q" name="q" value="${f.q ?? ''}">
<label for="state">State</label> <select id="state" name="state"><option value="">any</option>${STATES.map((s) => html`<option ${s === f.state ? new Html('selected') : ''}>${s}</option>`)}</select>
${f.wave ? html`<input type="hidden" name="wave" value="${f.wave}">` : ''}${f.label ? html`<input type="hidden" name="label" value="${f.label}">` : ''}
<button>Filter</button></form>
<p class="muted" id="count">${matching.length} of ${snap.sites.length} site(s)${f.wave ? ` in wave ${f.wave}` : ''}${f.label ? ` with ${f.label}` : ''}; page ${page} of ${pages}</p>
${rows(['Site', 'State', 'Wave', 'Release', 'Clusters', 'Drifted', 'Last report'], body, { id: 'sites', empty: 'No site matches.' })}
<nav class="pager" aria-label="Pages">${page > 1 ? html`<a rel="prev" href="/ui/sites${query({ ...keep, page: page - 1 })}">Previous</a>` : ''} ${page < pages ? html`<a rel="next" href="/ui/sites${query({ ...keep, page: page + 1 })}">Next</a>` : ''}</nav>`;
}

/** A placement's drift: the count, then the objects by name the receipt lists, and how many more it counted. */
export function drifted(r: Pick<StatusRow, 'drifted' | 'driftedObjects'>): Html {
  const names = r.driftedObjects ?? [];
  const more = r.drifted - names.length;
  if (!names.length) return html`${r.drifted}`;
  return html`<span class="drifted-count">${r.drifted}</span>${names.map((n) => html`<div class="mono drifted-object">${n}</div>`)}${more > 0 ? html`<div class="muted drifted-more">and ${more} more</div>` : ''}`;
}

export function sitePage(site: SiteStatus, now: Date): Html {
  return html`<section class="card" id="site">${facts([
    ['State', badge(site.state)],
    ['Wave', site.wave ?? '(none)'],
    ['Labels', Object.entries(site.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '(none)'],
    ['Trust', site.trust === 'trusted' ? html`${badge('verified')} signed by appliance ${digest(site.signer)}` : site.trust === 'untrusted' ? html`${badge('untrusted')} ${site.untrusted?.why ?? ''}` : 'no receipt'],
    ['Last report', site.lastReport ? when(site.lastReport, now) : 'never'],
  ])}</section>
<h2>Clusters</h2>
${rows(
    ['Cluster', 'Channel', 'State', 'Release', 'Root', 'Sync', 'Health', 'Drifted objects', 'Checked', 'Behind', 'Why'],
    site.rows.map((r) => [r.cluster, r.channel, badge(r.state), r.release ? `${r.release.name} ${r.release.sequence ?? ''}` : '', digest(r.release?.root), r.sync ? badge(r.sync) : '', r.health ? badge(r.health) : '', drifted(r), r.checkedAt ? when(r.checkedAt, now) : '', r.behind ?? '', r.reason ?? '']),
    { id: 'clusters' },
  )}`;
}
