/** Wave gates, pure: the unbroken healthy run, the share, stale health, and the next plan's waves. */
import { describe, expect, it } from 'vitest';
import { generateKey, publicPart } from '../../keys/key-file.js';
import type { FleetWave } from '../../src/fleet/fleet-file.js';
import { type SiteEvidence, gateReport, promote, siteVerdict } from '../../src/fleet/gate.js';
import type { Evidence } from '../../src/fleet/receipts.js';

const R = `sha256:${'a'.repeat(64)}`;
const OLD = `sha256:${'b'.repeat(64)}`;
const T0 = Date.parse('2026-11-30T09:00:00Z');
const at = (m: number) => new Date(T0 + m * 60_000).toISOString();
const HOUR = 3600_000;

function receipt(minute: number, health = 'Healthy', root = R): Evidence {
  return { created: at(minute), signer: 'k', where: 'x', channels: [], placements: [{ cluster: 'pos', channel: 'stable', root, sync: 'Synced', health, drifted: 0, checkedAt: at(minute) }] };
}

function site(name: string, labels: Record<string, string>, receipts: Evidence[]): SiteEvidence {
  return { site: { name, labels, key: publicPart(generateKey()), origin: 'test' }, receipts: [...receipts].reverse() };
}

const wave = (name: string, selector: FleetWave['selector'], healthy = 1, soakMs = 30 * 60_000): FleetWave => ({ name, selector, gate: { healthy, soakMs }, origin: 'test' });

describe('wave gates', () => {
  it('measures the unbroken run of healthy reports on the root, from its first check to its last', () => {
    const s = site('a', {}, [receipt(0), receipt(10, 'Degraded'), receipt(20), receipt(45)]);
    const v = siteVerdict(s, 'stable', R, 30 * 60_000, 24 * HOUR, new Date(at(46)));
    expect(v).toMatchObject({ healthy: false, since: at(20), healthyForMs: 25 * 60_000 });
    expect(siteVerdict(site('a', {}, [receipt(0), receipt(10, 'Degraded'), receipt(20), receipt(50)]), 'stable', R, 30 * 60_000, 24 * HOUR, new Date(at(51))).healthy).toBe(true);
  });

  it('counts another root, a stale report, no report and an untrusted one as not healthy', () => {
    const now = new Date(at(100));
    expect(siteVerdict(site('a', {}, [receipt(0, 'Healthy', OLD), receipt(90, 'Healthy', OLD)]), 'stable', R, 0, 24 * HOUR, now).reason).toMatch(/^runs sha256:bbbbbbbbbbbb on cluster pos, not sha256:aaaaaaaaaaaa$/);
    // took the new root but could not apply it (a render that failed): still on the old one, and why
    const failed: Evidence = { ...receipt(95, 'Degraded', OLD), placements: [{ ...(receipt(95, 'Degraded', OLD).placements[0] as Evidence['placements'][number]), sync: 'OutOfSync', reason: 'the render for cluster pos failed' }] };
    expect(siteVerdict(site('a', {}, [failed]), 'stable', R, 0, 24 * HOUR, now).reason).toBe('runs sha256:bbbbbbbbbbbb on cluster pos, not sha256:aaaaaaaaaaaa (Degraded: the render for cluster pos failed)');
    expect(siteVerdict(site('a', {}, [receipt(0), receipt(40)]), 'stable', R, 0, 30 * 60_000, now).reason).toMatch(/^stale: last heard of/);
    expect(siteVerdict(site('a', {}, []), 'stable', R, 0, HOUR, now).reason).toBe('never reported');
    expect(siteVerdict({ ...site('a', {}, []), untrusted: 'signed by someone else' }, 'stable', R, 0, HOUR, now).reason).toBe('untrusted: signed by someone else');
  });

  it('holds when the share of healthy sites reaches the gate: 19 of 20 is 95%, 18 is not', () => {
    const sites = (healthy: number) => Array.from({ length: 20 }, (_, i) => site(`s${i}`, {}, i < healthy ? [receipt(0), receipt(40)] : [receipt(0, 'Degraded')]));
    const now = new Date(at(41));
    expect(gateReport(wave('w', {}, 0.95), sites(19), 'stable', R, HOUR, now).holds).toBe(true);
    const no = gateReport(wave('w', {}, 0.95), sites(18), 'stable', R, HOUR, now);
    expect(no.holds).toBe(false);
    expect(no.blockers.map((b) => b.site)).toEqual(['s18', 's19']);
  });

  it('gives the release to the first wave, the next only through a holding gate, and never takes it back', () => {
    const waves = [wave('canary', { matchLabels: { ring: 'canary' } }), wave('eu', { matchLabels: { region: 'eu' } }), wave('rest', {})];
    const canary = site('c', { ring: 'canary', region: 'eu' }, [receipt(0), receipt(40)]);
    const eu = site('e', { region: 'eu' }, [receipt(0, 'Degraded')]);
    const now = new Date(at(41));
    const first = promote({ waves, evidence: [canary, eu], channel: 'stable', release: { root: R, sequence: 2 }, current: undefined, staleMs: HOUR, now });
    expect(first.plan.serial).toBe(1);
    expect(first.plan.waves.map((w) => w.root)).toEqual([R, R, null]);
    expect(first.held).toBe(true);
    const again = promote({ waves, evidence: [canary, eu], channel: 'stable', release: { root: R, sequence: 2 }, current: first.plan, staleMs: HOUR, now });
    expect(again.changed).toBe(false);
    // The canary degrades later: the eu wave keeps the release it has.
    const worse = promote({ waves, evidence: [site('c', { ring: 'canary' }, [receipt(50, 'Degraded')]), eu], channel: 'stable', release: { root: R, sequence: 2 }, current: first.plan, staleMs: HOUR, now: new Date(at(51)) });
    expect(worse.plan.waves.map((w) => w.root)).toEqual([R, R, null]);
  });
});
