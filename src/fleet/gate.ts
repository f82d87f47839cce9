/**
 * Wave gates and the next release plan, pure (docs/adr/020-waves.md). A site is healthy on a root for a soak
 * time when its newest receipt is fresh (not older than the fleet's `stale`) and every one of the site's receipts
 * seen from the oldest of an unbroken run up to the newest reports every placement of the channel on that root,
 * Synced and Healthy, and that run spans at least the soak time (from the first check in the run to the last).
 * A wave's gate holds when at least its share of the wave's sites are so. Wave k+1 gets a release only when wave
 * k has it and wave k's gate holds for it; a wave that had it keeps it.
 */
import type { PlanWave, ReleasePlan } from '../depot/plan.js';
import { duration } from '../ui/format.js';
import type { FleetWave } from './fleet-file.js';
import type { FleetSite } from './load.js';
import type { Evidence } from './receipts.js';
import { waveOf } from './status.js';

export interface SiteEvidence {
  site: FleetSite;
  /** Trusted receipts, newest first. */
  receipts: Evidence[];
  /** Why the newest receipt claiming to be the site's was refused, when no trusted one exists. */
  untrusted?: string;
}

export interface SiteVerdict {
  site: string;
  healthy: boolean;
  /** Why not (or, when healthy, for how long). */
  reason: string;
  /** Start of the unbroken healthy run on the root (ISO 8601), when there is one. */
  since: string | null;
  healthyForMs: number;
}

export interface GateReport {
  wave: string;
  sites: number;
  healthy: number;
  /** The share needed (0..1) and the soak (ms), from the fleet file. */
  needed: number;
  soakMs: number;
  holds: boolean;
  /** The sites that are not healthy on the root for the soak, and why. */
  blockers: SiteVerdict[];
}

/** When a receipt's placements of `channel` were checked (the earliest of them), else when it was written. */
function observedAt(e: Evidence, channel: string): number {
  const checks = e.placements.filter((p) => p.channel === channel && p.checkedAt).map((p) => Date.parse(p.checkedAt as string));
  return checks.length ? Math.min(...checks) : Date.parse(e.created);
}

/** Undefined when the receipt reports the channel on `root`, Synced and Healthy everywhere; else why not. */
export function notHealthyOn(e: Evidence, channel: string, root: string): string | undefined {
  const placements = e.placements.length
    ? e.placements.filter((p) => p.channel === channel)
    : e.channels.filter((c) => c.channel === channel).map((c) => ({ cluster: '-', root: c.root, sync: c.sync, health: c.health, reason: undefined as string | undefined }));
  if (!placements.length) return `reports nothing on channel ${channel}`;
  for (const p of placements) {
    const on = p.cluster === '-' ? '' : ` on cluster ${p.cluster}`;
    // A site that took the root but could not apply it still runs the old one: say why (Degraded and its reason).
    const trouble = p.health !== 'Healthy' ? ` (${p.health}${p.reason ? `: ${p.reason}` : ''})` : '';
    if (p.root !== root) return `runs ${p.root ? p.root.slice(0, 19) : 'nothing'}${on}, not ${root.slice(0, 19)}${trouble}`;
    if (p.health !== 'Healthy') return `${p.health}${on}${p.reason ? `: ${p.reason}` : ''}`;
    if (p.sync !== 'Synced') return `${p.sync}${on}`;
  }
  return undefined;
}

export function siteVerdict(ev: SiteEvidence, channel: string, root: string, soakMs: number, staleMs: number, now: Date): SiteVerdict {
  const name = ev.site.name;
  const no = (reason: string, since: string | null = null, healthyForMs = 0): SiteVerdict => ({ site: name, healthy: false, reason, since, healthyForMs });
  const latest = ev.receipts[0];
  if (!latest) return no(ev.untrusted ? `untrusted: ${ev.untrusted}` : 'never reported');
  if (now.getTime() - Date.parse(latest.created) > staleMs) return no(`stale: last heard of ${latest.created} (${duration(now.getTime() - Date.parse(latest.created))} ago)`);
  const why = notHealthyOn(latest, channel, root);
  if (why) return no(why);
  let first = latest;
  for (const e of ev.receipts.slice(1)) {
    if (notHealthyOn(e, channel, root)) break;
    first = e;
  }
  const since = observedAt(first, channel);
  const healthyForMs = Math.max(0, observedAt(latest, channel) - since);
  const sinceIso = new Date(since).toISOString();
  if (healthyForMs < soakMs) return no(`healthy on it for ${duration(healthyForMs)} (since ${sinceIso}), the soak is ${duration(soakMs)}`, sinceIso, healthyForMs);
  return { site: name, healthy: true, reason: `healthy on it for ${duration(healthyForMs)}`, since: sinceIso, healthyForMs };
}

export function gateReport(wave: FleetWave, members: SiteEvidence[], channel: string, root: string, staleMs: number, now: Date): GateReport {
  const verdicts = members.map((m) => siteVerdict(m, channel, root, wave.gate.soakMs, staleMs, now));
  const healthy = verdicts.filter((v) => v.healthy).length;
  // An empty wave holds nothing back; otherwise the share, compared without floating-point surprises.
  const holds = members.length === 0 || healthy * 1e6 >= Math.round(wave.gate.healthy * 1e6) * members.length;
  return { wave: wave.name, sites: members.length, healthy, needed: wave.gate.healthy, soakMs: wave.gate.soakMs, holds, blockers: verdicts.filter((v) => !v.healthy) };
}

export interface WaveDecision {
  wave: string;
  previous: { root: string | null; sequence: number | null };
  /** Whether the wave may take the release in the next plan. */
  gets: boolean;
  /** The gate of the wave before (null for the first wave). */
  after: GateReport | null;
}

export interface Promotion {
  plan: ReleasePlan;
  decisions: WaveDecision[];
  /** Some wave does not get the release yet. */
  held: boolean;
  /** The next plan differs from the current one. */
  changed: boolean;
}

/** The sites of each wave: a site belongs to the first wave whose selector matches its labels (as targetFor). */
export function waveMembers(waves: FleetWave[], evidence: SiteEvidence[]): Map<string, SiteEvidence[]> {
  const out = new Map<string, SiteEvidence[]>(waves.map((w) => [w.name, []]));
  for (const e of evidence) {
    const w = waveOf(waves, e.site.labels);
    if (w) out.get(w)?.push(e);
  }
  return out;
}

export interface PromoteInput {
  waves: FleetWave[];
  evidence: SiteEvidence[];
  channel: string;
  release: { root: string; sequence: number };
  current: ReleasePlan | undefined;
  staleMs: number;
  now: Date;
}

export function promote({ waves, evidence, channel, release, current, staleMs, now }: PromoteInput): Promotion {
  const members = waveMembers(waves, evidence);
  const decisions: WaveDecision[] = [];
  const next: PlanWave[] = [];
  let before: { wave: FleetWave; gets: boolean } | undefined;
  for (const wave of waves) {
    const old = current?.waves.find((w) => w.name === wave.name);
    const previous = { root: old?.root ?? null, sequence: old?.sequence ?? null };
    const had = previous.root === release.root;
    const after = before ? gateReport(before.wave, members.get(before.wave.name) ?? [], channel, release.root, staleMs, now) : null;
    const gets = had || !before || (before.gets && (after?.holds ?? false));
    decisions.push({ wave: wave.name, previous, gets, after });
    next.push({ name: wave.name, selector: wave.selector, ...(gets ? { root: release.root, sequence: release.sequence } : previous) });
    before = { wave, gets };
  }
  const plan: ReleasePlan = { type: 'airlock-release-plan', channel, created: now.toISOString(), serial: (current?.serial ?? 0) + 1, waves: next };
  const same = (a: PlanWave, b: PlanWave | undefined) => b !== undefined && a.name === b.name && a.root === b.root && a.sequence === b.sequence && JSON.stringify(a.selector) === JSON.stringify(b.selector);
  const changed = !current || current.waves.length !== next.length || next.some((w, i) => !same(w, current.waves[i]));
  return { plan, decisions, held: decisions.some((d) => !d.gets), changed };
}
