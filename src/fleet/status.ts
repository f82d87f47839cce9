/**
 * The fleet's status, pure: per site and cluster (placement) the release in force, sync, health, drift, last
 * report, how many releases behind the channel head, and a state of its own. States, first that applies:
 *
 *   untrusted       the site's receipt does not verify against its key (shown, never counted as anything else)
 *   never-reported  no receipt from the site
 *   stale           the receipt (or the cluster's last check) is older than the fleet's `stale`
 *   degraded        the placement is not Healthy (its health and reason say why)
 *   behind          it runs another root than the channel head
 *   current         on the channel head (or no head is known), Healthy
 */
import { matchesSelector } from '../render/selector.js';
import type { FleetWave } from './fleet-file.js';
import type { FleetSite } from './load.js';
import type { SiteReport } from './receipts.js';
import type { ReceiptPlacement } from '../../keys/receipt.js';

export const STATES = ['current', 'behind', 'degraded', 'stale', 'never-reported', 'untrusted'] as const;
export type State = (typeof STATES)[number];
/** Worst first: a site's state is the worst of its clusters'. */
const SEVERITY: State[] = ['untrusted', 'never-reported', 'stale', 'degraded', 'behind', 'current'];

/** A channel's newest release: the channel tag's root and the sequence its signature carries. */
export interface ChannelHead {
  channel: string;
  root: string;
  sequence: number;
  name?: string;
  /** Every release of the channel known (sequence and root), to count how many a site is behind. */
  releases: { sequence: number; root: string }[];
}

export interface StatusRow {
  site: string;
  cluster: string;
  channel: string;
  state: State;
  release: { name: string; sequence: number | null; root: string } | null;
  sync: string;
  health: string;
  drifted: number;
  /** The drifted objects by name (`Deployment shop/web`), as many as the receipt names (it may name fewer than `drifted`). */
  driftedObjects?: string[];
  /** The receipt's time; null when the site never reported. */
  lastReport: string | null;
  checkedAt: string | null;
  behind: number | null;
  reason?: string;
}

export interface SiteStatus {
  name: string;
  labels: Record<string, string>;
  wave: string | null;
  state: State;
  trust: 'trusted' | 'untrusted' | 'none';
  signer: string | null;
  lastReport: string | null;
  rows: StatusRow[];
  untrusted?: { where: string; why: string };
}

/** The first wave whose selector matches the site's labels (as the plan's targetFor picks), or null. */
export function waveOf(waves: FleetWave[], labels: Record<string, string>): string | null {
  return waves.find((w) => matchesSelector(w.selector, labels))?.name ?? null;
}

export function worst(states: State[]): State {
  let best = SEVERITY.length - 1;
  for (const s of states) best = Math.min(best, SEVERITY.indexOf(s));
  return SEVERITY[best] ?? 'current';
}

function behindBy(head: ChannelHead | undefined, root: string, sequence: number | null): number | null {
  if (!head) return null;
  if (root === head.root) return 0;
  const known = head.releases.find((r) => r.root === root)?.sequence ?? sequence;
  if (known === null || known === undefined) return Math.max(1, head.releases.length);
  return Math.max(1, head.releases.filter((r) => r.sequence > known && r.sequence <= head.sequence).length);
}

export interface StatusInput {
  site: FleetSite;
  report: SiteReport | undefined;
  waves: FleetWave[];
  heads: Map<string, ChannelHead>;
  staleMs: number;
  now: Date;
  /** Only this channel's placements (all when unset). */
  channel?: string;
}

export function siteStatus({ site, report, waves, heads, staleMs, now, channel }: StatusInput): SiteStatus {
  const base = { name: site.name, labels: site.labels, wave: waveOf(waves, site.labels) };
  const latest = report?.latest;
  if (!latest) {
    const untrusted = report?.untrusted;
    const state: State = untrusted ? 'untrusted' : 'never-reported';
    const clusters = site.clusters?.length ? site.clusters : ['-'];
    const rows = clusters.map((cluster) => ({ site: site.name, cluster, channel: channel ?? '', state, release: null, sync: '', health: '', drifted: 0, lastReport: null, checkedAt: null, behind: null, ...(untrusted ? { reason: untrusted.why } : {}) }));
    return { ...base, state, trust: untrusted ? 'untrusted' : 'none', signer: null, lastReport: null, rows, ...(untrusted ? { untrusted } : {}) };
  }
  const old = (iso: string | null) => iso !== null && now.getTime() - Date.parse(iso) > staleMs;
  const siteStale = old(latest.created);
  const placements: ReceiptPlacement[] = latest.placements.length
    ? latest.placements
    : latest.channels.map((c) => ({ cluster: '-', channel: c.channel, root: c.root, sync: c.sync, health: c.health, drifted: 0, checkedAt: null as string | null, reason: undefined as string | undefined }));
  const rows: StatusRow[] = placements
    .filter((p) => channel === undefined || p.channel === channel)
    .map((p) => {
      const inForce = latest.channels.find((c) => c.channel === p.channel && c.root === p.root);
      const head = heads.get(p.channel);
      const release = p.root ? { name: inForce?.name ?? '', sequence: inForce?.sequence ?? head?.releases.find((r) => r.root === p.root)?.sequence ?? null, root: p.root } : null;
      const behind = release ? behindBy(head, release.root, release.sequence) : head ? Math.max(1, head.releases.length) : null;
      const state: State = siteStale || old(p.checkedAt) ? 'stale' : p.health !== 'Healthy' ? 'degraded' : behind ? 'behind' : 'current';
      return {
        site: site.name,
        cluster: p.cluster,
        channel: p.channel,
        state,
        release,
        sync: p.sync,
        health: p.health,
        drifted: p.drifted,
        ...(p.driftedObjects?.length ? { driftedObjects: p.driftedObjects } : {}),
        lastReport: latest.created,
        checkedAt: p.checkedAt,
        behind,
        ...(p.reason ? { reason: p.reason } : state === 'stale' ? { reason: `last heard of ${latest.created}` } : {}),
      };
    });
  // Clusters the site file lists that the receipt does not report.
  for (const cluster of site.clusters ?? []) {
    if (!rows.some((r) => r.cluster === cluster)) {
      rows.push({ site: site.name, cluster, channel: channel ?? '', state: siteStale ? 'stale' : 'behind', release: null, sync: '', health: '', drifted: 0, lastReport: latest.created, checkedAt: null, behind: null, reason: 'the receipt reports nothing for this cluster' });
    }
  }
  if (!rows.length) {
    rows.push({ site: site.name, cluster: '-', channel: channel ?? '', state: siteStale ? 'stale' : heads.size ? 'behind' : 'current', release: null, sync: '', health: '', drifted: 0, lastReport: latest.created, checkedAt: null, behind: null, reason: 'nothing applied yet' });
  }
  return { ...base, state: worst(rows.map((r) => r.state)), trust: 'trusted', signer: latest.signer, lastReport: latest.created, rows };
}

export type Counts = Record<State, number>;

export function emptyCounts(): Counts {
  return { current: 0, behind: 0, degraded: 0, stale: 0, 'never-reported': 0, untrusted: 0 };
}

export interface Group {
  label: string;
  value: string;
  sites: number;
  counts: Counts;
}

/** Sites per value of `label` (sites without it under the empty value), with their states counted. */
export function groupBy(sites: SiteStatus[], label: string): Group[] {
  const groups = new Map<string, Group>();
  for (const s of sites) {
    const value = s.labels[label] ?? '';
    let g = groups.get(value);
    if (!g) groups.set(value, (g = { label, value, sites: 0, counts: emptyCounts() }));
    g.sites++;
    g.counts[s.state]++;
  }
  return [...groups.values()].sort((a, b) => a.value.localeCompare(b.value));
}

export function countStates(sites: SiteStatus[]): Counts {
  const counts = emptyCounts();
  for (const s of sites) counts[s.state]++;
  return counts;
}
