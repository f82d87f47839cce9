/**
 * `airlock fleet promote` against a real docker-registry depot: three sites with labels in two waves. The first
 * plan gives the release to the canary wave only; a canary reporting Degraded holds the next wave back and is
 * named; healthy for less than the soak still holds it; healthy past the soak moves the release on. A site whose
 * last receipt is older than `stale` never counts as healthy; an older release never replaces a newer one.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SecretKey, generateKey, writeKeyFiles } from '../../keys/key-file.js';
import { connectDepot } from '../../src/depot/connect.js';
import { parseDepotRef } from '../../src/depot/layout.js';
import { PLAN_PAYLOAD_TYPE, type ReleasePlan, readPlan, targetFor, verifyPlan } from '../../src/depot/plan.js';
import { cli } from '../helpers/cli.js';
import { run } from '../helpers/exec.js';
import type { TestRegistry } from '../helpers/registry.js';
import { makeTrust } from '../helpers/trust.js';
import { pushReceipt, receiptText, startFleetDepot } from './fleet-receipts.js';

const T0 = new Date('2026-11-30T09:00:00Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

let registry: TestRegistry;
let work: string;
let depot: string;
let r1: string;
let root1: string;
let root2: string;
const keys: Record<string, SecretKey> = {};
const k = (name: string) => join(work, name);
const env = () => ({ DOCKER_CONFIG: k('docker') });
const trust = makeTrust();

async function plan(): Promise<ReleasePlan> {
  const { repo, close } = await connectDepot({ ref: parseDepotRef(depot), env: {} });
  try {
    const text = await readPlan(repo, 'stable');
    if (!text) throw new Error('no plan in the depot');
    return verifyPlan(text, trust.trust, 'plan');
  } finally {
    close();
  }
}

const promote = (release: string, now: Date, extra: string[] = []) =>
  cli(['fleet', 'promote', '-f', k('fleet.yaml'), '--channel', 'stable', '--release', release, '--key', k('release.key'), '--trust', k('root.json'), '--history', k('history'), ...extra], { env: env(), now });

async function report(site: string, now: Date, root: string, health = 'Healthy', reason?: string): Promise<void> {
  await pushReceipt(depot, site, receiptText(keys[site] as SecretKey, { site, created: now, root, health, ...(reason ? { reason } : {}) }), now);
}

beforeAll(async () => {
  const sites: [string, string][] = [
    ['store-1', '{ring: canary, region: eu}'],
    ['store-2', '{region: eu}'],
    ['store-3', '{region: us}'],
  ];
  ({ registry, work, depot, r1, root1, root2 } = await startFleetDepot('fleet-promote', trust, keys, sites.map(([n]) => n)));
  await writeFile(
    k('fleet.yaml'),
    `kind: Fleet\ndepot: ${depot}\nstale: 24h\nsites:\n${sites.map(([n, l]) => `  - {name: ${n}, labels: ${l}, key: ${n}.pub}\n`).join('')}waves:\n  - name: canary\n    selector: {matchLabels: {ring: canary}}\n    gate: {healthy: 100%, soak: 30m}\n  - name: everyone\n    selector: {}\n    gate: {healthy: 95%, soak: 1h}\n`,
  );
}, 120_000);

afterAll(async () => {
  await registry?.stop();
});

describe('fleet promote', () => {
  it('gives a new release to the canary wave only, and says why the next wave waits', async () => {
    const r = await promote(r1, at(0));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/wave canary: gets it/);
    expect(r.stdout).toMatch(/wave everyone: held back, takes nothing yet: 0 of 1 site\(s\) of wave canary healthy on it for 30 minutes \(100% needed\)\n {2}store-1: never reported/);
    expect(r.stdout).toMatch(/wrote plan serial 1 to oci:\/\/.*\/stores:stable\.plan/);
    const p = await plan();
    expect(p.serial).toBe(1);
    expect(p.waves.map((w) => [w.name, w.root, w.sequence])).toEqual([['canary', root1, 1], ['everyone', null, null]]);
    expect(targetFor(p, { ring: 'canary', region: 'eu' })).toEqual({ wave: 'canary', root: root1, sequence: 1 });
    expect(targetFor(p, { region: 'us' })).toBeNull();
    // What a user's registry client sees: the plan artifact under the channel's plan tag.
    const raw = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/stores:stable.plan`])) as { artifactType: string };
    expect(raw.artifactType).toBe(PLAN_PAYLOAD_TYPE);
  });

  it('a canary reporting Degraded holds the next wave back and is named; the plan is not rewritten', async () => {
    await report('store-1', at(5), root1, 'Degraded', 'Deployment pos/web: 0 of 2 replicas available');
    const r = await promote(r1, at(6));
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/ {2}store-1: Degraded on cluster pos: Deployment pos\/web: 0 of 2 replicas available/);
    expect(r.stdout).toMatch(/plan unchanged \(serial 1\)/);
    expect((await plan()).serial).toBe(1);
  });

  it('healthy for less than the soak still holds; healthy past the soak moves the release on', async () => {
    await report('store-1', at(10), root1);
    const early = await promote(r1, at(11), ['--json']);
    expect(early.code).toBe(3);
    const doc = JSON.parse(early.stdout) as { written: boolean; waves: { name: string; gets: boolean; gate: { holds: boolean; blockers: { site: string; reason: string }[] } | null }[] };
    expect(doc.written).toBe(false);
    expect(doc.waves[1]?.gate?.blockers).toEqual([{ site: 'store-1', healthy: false, reason: expect.stringMatching(/^healthy on it for 0 seconds .*the soak is 30 minutes$/), since: at(10).toISOString(), healthyForMs: 0 }]);

    // Reports every 10 minutes, each seen by the fleet (status keeps them in the history folder).
    for (const m of [20, 30]) {
      await report('store-1', at(m), root1);
      expect((await cli(['fleet', 'status', '-f', k('fleet.yaml'), '--history', k('history')], { env: env(), now: at(m) })).code).toBe(0);
    }
    expect((await promote(r1, at(31))).code).toBe(3); // 20 minutes of 30
    await report('store-1', at(41), root1);
    const r = await promote(r1, at(42));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wave everyone: gets it: 1 of 1 site\(s\) of wave canary healthy on it for 30 minutes/);
    const p = await plan();
    expect(p.serial).toBe(2);
    expect(p.waves.map((w) => [w.name, w.root])).toEqual([['canary', root1], ['everyone', root1]]);
    expect(targetFor(p, { region: 'us' })).toEqual({ wave: 'everyone', root: root1, sequence: 1 });
  });

  it('never promotes on stale health: a canary silent for longer than stale holds the next release back', async () => {
    const later = at(42 + 25 * 60);
    const r = await promote(root2, later);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/wave everyone: held back, stays on sha256:[a-f0-9]{12} \(sequence 1\)/);
    expect(r.stdout).toMatch(/ {2}store-1: stale: last heard of 2026-11-30T09:41:00\.000Z \(1 day ago\)/);
    const p = await plan();
    expect(p.serial).toBe(3);
    expect(p.waves.map((w) => [w.name, w.root, w.sequence])).toEqual([['canary', root2, 2], ['everyone', root1, 1]]);
  });

  it('refuses to hand a wave an older release than it has, and a key the trust root does not list', async () => {
    const back = await promote(r1, at(42 + 26 * 60));
    expect(back.code).toBe(1);
    expect(back.stderr).toMatch(/wave canary already has sequence 2 .* appliances never go back to a lower sequence: release a newer bundle instead \[ROLLBACK\]/);
    await writeKeyFiles(k('stranger'), generateKey('stranger'));
    const bad = await cli(['fleet', 'promote', '-f', k('fleet.yaml'), '--channel', 'stable', '--release', root2, '--key', k('stranger.key'), '--trust', k('root.json'), '--history', k('history')], { env: env(), now: at(42 + 26 * 60) });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/the new plan \(check --key against the trust root's release keys\)/);
    expect((await plan()).serial).toBe(3);
  });

  it('a canary whose receipt in the depot is signed by another key is untrusted, whatever it said before', async () => {
    const now = at(42 + 27 * 60);
    await report('store-1', at(42 + 26 * 60), root2);
    await pushReceipt(depot, 'store-1', receiptText(generateKey('impostor'), { site: 'store-1', created: now, root: root2 }), now);
    const r = await promote(root2, now);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/ {2}store-1: untrusted: .*not by a trusted appliance key/);
  });
});
