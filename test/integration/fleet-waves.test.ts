/**
 * Waves end to end, with real parts only: a real docker-registry as the depot, three appliances (sites with
 * labels) following it with short poll and report intervals, each reconciling its own namespace on one real
 * kube-apiserver, and the real `airlock` executable for `bundle push`, `fleet promote` and `fleet status`.
 * Release 1 reaches every site by the channel tag; once the channel has a plan, the sites follow the plan, not
 * the tag: release 2 goes to the canary wave only. The canary cannot render release 2 (a site value it lacks):
 * it reports Degraded in its signed receipt and `promote` names it, exit 3. Restarted with the value it becomes
 * healthy; within the soak `promote` still holds, past the soak the everyone wave takes release 2, and
 * `fleet status` shows the three sites current; a site whose appliance stops becomes stale. (Receipts signed by
 * an unknown key: fleet-status.test.ts and fleet-promote.test.ts.)
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeKeyFiles } from '../../keys/key-file.js';
import { loadSiteFile } from '../../appliance/reconcile/targets.js';
import { buildBundle } from '../../bundler/build.js';
import { parseSpec } from '../../bundler/spec.js';
import { bundleStatement } from '../../src/fleet/heads.js';
import { type Site, api, makeSite, start } from '../helpers/appliance-fixture.js';
import { airlock } from '../helpers/cli.js';
import { type TestCluster, startCluster } from '../helpers/kube.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';

type App = Awaited<ReturnType<typeof start>>;
const SOAK_S = 4;
const NAMES = ['a', 'b', 'c'] as const;
type Name = (typeof NAMES)[number];
const LABELS: Record<Name, string> = { a: '{ring: canary, region: eu}', b: '{region: eu}', c: '{region: us}' };

let registry: TestRegistry;
let kube: TestCluster;
let site: Site;
let depot: string;
const apps = {} as Record<Name, App>;
const dataDirs = {} as Record<Name, string>;
const stopped = new Set<Name>();
let r1: string;
let r2: string;
const k = (name: string) => join(site.dir, name);
const env = () => ({ DOCKER_CONFIG: k('docker') });

const SPEC = `apiVersion: airlock.dev/v1
kind: Bundle
metadata: {name: shop, channel: stable}
discoverImages: false
images:
  - oci:./layout:team/app:1.0
manifests:
  - ./shop
`;

/** Each site's objects live in its own namespace (a site value), so three sites share one cluster. */
const shop = (v: string, extra = '') => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop-\${site}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release\n  namespace: shop-\${site}\ndata:\n  v: "${v}"\n${extra}`;

async function bundle(sequence: number, manifests: string): Promise<string> {
  await mkdir(k('shop'), { recursive: true });
  await writeFile(k('shop/all.yaml'), manifests);
  await writeFile(k('airlock.yaml'), SPEC);
  const out = join(site.media, `shop-${sequence}.airlock`);
  await buildBundle({ spec: parseSpec(SPEC, k('airlock.yaml')), keys: site.trust.release, out, sequence });
  return out;
}

async function siteFile(name: Name, values: Record<string, string>): Promise<string> {
  const path = k(`site-${name}.yaml`);
  const vals = Object.entries(values).map(([key, v]) => `  ${key}: "${v}"\n`).join('');
  await writeFile(path, `apiVersion: airlock.dev/v1\nkind: Site\nmetadata:\n  name: site-${name}\n  labels: ${LABELS[name]}\nvalues:\n${vals}clusters:\n  - name: pos\n    kubeconfig: ${kube.kubeconfig}\n`);
  return path;
}

async function follow(name: Name, values: Record<string, string>): Promise<App> {
  const app = await start(site, {
    dataDir: dataDirs[name],
    channel: 'stable',
    site: await loadSiteFile(await siteFile(name, values)),
    intervalMs: 1000,
    kubeTimeoutMs: 5000,
    depot: { url: depot, intervalMs: 1000, reportIntervalMs: 1000 },
  });
  apps[name] = app;
  return app;
}

interface Status {
  channels: { sequence: number; rootDigest: string }[];
  placements: { cluster: string; rootDigest: string; sync: string; health: string; reason?: string }[];
}
const status = async (name: Name) => (await api<Status>(apps[name].url, apps[name].token, '/api/v1/status')).body;

/** The ConfigMap a site's placement wrote in the shared cluster. */
async function live(name: Name): Promise<Record<string, string> | undefined> {
  const res = await kube.request(`/api/v1/namespaces/shop-${name}/configmaps/release`);
  return res.status === 200 ? ((await res.json()) as { data: Record<string, string> }).data : undefined;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The site runs `root` (sequence) and its placement is Synced and Healthy on it. */
const healthyOn = (name: Name, root: string) => async () => {
  const s = await status(name);
  const p = s.placements.find((x) => x.cluster === 'pos');
  return s.channels[0]?.rootDigest === root && p?.rootDigest === root && p.sync === 'Synced' && p.health === 'Healthy' ? s : undefined;
};

const rootOf = async (file: string) => (await bundleStatement(file)).root.digest;
const push = (file: string) => airlock(['bundle', 'push', file, depot], { env: env() });
const promote = (release: string) => airlock(['fleet', 'promote', '-f', k('fleet.yaml'), '--channel', 'stable', '--release', release, '--key', k('release.key'), '--trust', site.trustPath], { env: env() });

beforeAll(async () => {
  [registry, kube, site] = await Promise.all([startRegistry(), startCluster(), makeSite()]);
  depot = `oci://${registry.host}/shop`;
  await mkdir(k('docker'));
  await writeFile(k('docker/config.json'), '{}');
  await writeKeyFiles(k('release'), site.trust.release[0] ?? (undefined as never));
  for (const n of NAMES) dataDirs[n] = k(`data-${n}`);
  // Release 2 needs a value only B's and C's site files define at first.
  await Promise.all([follow('a', { site: 'a' }), follow('b', { site: 'b', gateway: 'gw-b' }), follow('c', { site: 'c', gateway: 'gw-c' })]);
  // Each appliance made its own key in its data directory at first start: the fleet file lists the public halves.
  const keyids = await Promise.all(NAMES.map(async (n) => (await readFile(join(dataDirs[n], 'appliance.pub'), 'utf8')).length > 0 && apps[n].ctx.siteKey.keyid));
  expect(new Set(keyids).size).toBe(3);
  await writeFile(
    k('fleet.yaml'),
    `kind: Fleet\ndepot: ${depot}\nstale: 1h\nsites:\n${NAMES.map((n) => `  - {name: site-${n}, labels: ${LABELS[n]}, key: ${join(dataDirs[n], 'appliance.pub')}}\n`).join('')}waves:\n  - name: canary\n    selector: {matchLabels: {ring: canary}}\n    gate: {healthy: 100%, soak: ${SOAK_S}s}\n  - name: everyone\n    selector: {}\n`,
  );
  r1 = await bundle(1, shop('1'));
  r2 = await bundle(2, shop('2', '  gateway: "${gateway}"\n'));
}, 900_000);

afterAll(async () => {
  for (const n of NAMES) if (!stopped.has(n)) await apps[n]?.close();
  await Promise.all([registry?.stop(), kube?.stop()]);
  if (site) await rm(site.dir, { recursive: true, force: true });
});

describe('waves with three real appliances and a real depot', { timeout: 120_000 }, () => {
  let root1: string;
  let root2: string;

  it('release 1 reaches every site by the channel tag while the channel has no plan', async () => {
    root1 = await rootOf(r1);
    root2 = await rootOf(r2);
    const pushed = await push(r1);
    expect(pushed.code, pushed.stderr).toBe(0);
    for (const n of NAMES) await until(`site ${n} healthy on release 1`, healthyOn(n, root1));
    for (const n of NAMES) expect(await live(n)).toEqual({ v: '1' });
  });

  it('with a plan the sites follow it, not the tag: release 2 goes to the canary wave only', async () => {
    // The plan first (release 1 to the canary wave), so that pushing release 2 moves the tag but no site.
    const first = await promote(r1);
    expect(first.code, first.stderr).toBe(3);
    expect(first.stdout).toMatch(/wave canary: gets it/);
    expect(first.stdout).toMatch(/wrote plan serial 1/);
    expect((await push(r2)).code).toBe(0);
    const r = await promote(r2);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/wave canary: gets it/);
    expect(r.stdout).toMatch(/wave everyone: held back, takes nothing yet/);
    expect(r.stdout).toMatch(/wrote plan serial 2/);

    // A takes release 2 (and cannot render it); B and C stay on release 1 though the tag names release 2.
    const a = await until('site a on release 2', async () => {
      const s = await status('a');
      const p = s.placements.find((x) => x.cluster === 'pos');
      return s.channels[0]?.rootDigest === root2 && p?.health === 'Degraded' ? p : undefined;
    });
    expect(a.reason).toMatch(/variable "gateway" has no value/);
    for (const n of ['b', 'c'] as const) {
      const s = await status(n);
      expect(s.channels[0]).toMatchObject({ sequence: 1, rootDigest: root1 });
      expect(await live(n)).toEqual({ v: '1' });
    }
    expect(await live('a')).toEqual({ v: '1' }); // nothing of a failed render is applied
  });

  it('the canary reporting Degraded holds the next wave back and promote names it', async () => {
    // The receipt site-a pushes after it took release 2 says so (its placement still runs release 1, Degraded).
    const r = await until('promote naming site-a Degraded', async () => {
      const p = await promote(r2);
      if (p.code !== 3) throw new Error(`promote: exit ${p.code}: ${p.stdout}${p.stderr}`);
      return / {2}site-a: runs sha256:[a-f0-9]{12} on cluster pos, not sha256:[a-f0-9]{12} \(Degraded: .*variable "gateway" has no value/.test(p.stdout) ? p : undefined;
    }, 30_000);
    expect(r.stdout).toMatch(/wave everyone: held back, takes nothing yet: 0 of 1 site\(s\) of wave canary healthy on it/);
    expect(r.stdout).toMatch(/plan unchanged \(serial 2\)/);
    const st = await airlock(['fleet', 'status', '-f', k('fleet.yaml'), '--json'], { env: env() });
    const sites = (JSON.parse(st.stdout) as { sites: { name: string; state: string; wave: string | null }[] }).sites;
    expect(sites.map((s) => [s.name, s.wave, s.state])).toEqual([
      ['site-a', 'canary', 'degraded'],
      ['site-b', 'everyone', 'behind'],
      ['site-c', 'everyone', 'behind'],
    ]);
  });

  it('fixed, the canary holds the next wave within the soak; past the soak the everyone wave takes release 2', async () => {
    await apps.a.close();
    await follow('a', { site: 'a', gateway: 'gw-a' });
    await until('site a healthy on release 2', healthyOn('a', root2));
    expect(await live('a')).toEqual({ v: '2', gateway: 'gw-a' });

    // Healthy, but not yet for the soak: still held (each run also keeps the receipt it read in the history).
    const early = await until('promote seeing site-a healthy', async () => {
      const p = await promote(r2);
      return / {2}site-a: healthy on it for/.test(p.stdout) ? p : undefined;
    });
    expect(early.code).toBe(3);
    expect(early.stdout).toMatch(new RegExp(` {2}site-a: healthy on it for .*the soak is ${SOAK_S} seconds`));
    expect(early.stdout).toMatch(/plan unchanged \(serial 2\)/);

    const moved = await until('promote moving release 2 on', async () => {
      const p = await promote(r2);
      if (p.code !== 0 && p.code !== 3) throw new Error(`promote failed: ${p.stderr}`);
      return p.code === 0 ? p : undefined;
    });
    expect(moved.stdout).toMatch(/wave everyone: gets it: 1 of 1 site\(s\) of wave canary healthy on it for/);
    expect(moved.stdout).toMatch(/wrote plan serial 3/);
    for (const n of ['b', 'c'] as const) await until(`site ${n} healthy on release 2`, healthyOn(n, root2));
    expect(await live('b')).toEqual({ v: '2', gateway: 'gw-b' });
    expect(await live('c')).toEqual({ v: '2', gateway: 'gw-c' });
  });

  it('fleet status shows the three sites current, from the receipts they pushed', async () => {
    const doc = await until('three sites current', async () => {
      const r = await airlock(['fleet', 'status', '-f', k('fleet.yaml'), '--json'], { env: env() });
      if (r.code !== 0) throw new Error(r.stderr);
      const d = JSON.parse(r.stdout) as { heads: { root: string }[]; sites: { name: string; state: string; rows: { release: { root: string; sequence: number } | null }[] }[] };
      return d.sites.every((s) => s.state === 'current') ? d : undefined;
    });
    expect(doc.heads.map((h) => h.root)).toEqual([root2]);
    expect(doc.sites.map((s) => [s.name, s.state, s.rows.map((row) => row.release?.sequence)])).toEqual([
      ['site-a', 'current', [2]],
      ['site-b', 'current', [2]],
      ['site-c', 'current', [2]],
    ]);
    const text = await airlock(['fleet', 'status', '-f', k('fleet.yaml')], { env: env() });
    expect(text.code).toBe(0);
    for (const n of NAMES) expect(text.stdout).toMatch(new RegExp(`site-${n}\\b.*current`));
  });

  it('a site that stopped reporting becomes stale; the others stay current', async () => {
    // The same fleet with a short stale (and a history of its own): site C's appliance is stopped.
    await writeFile(k('fleet-stale.yaml'), (await readFile(k('fleet.yaml'), 'utf8')).replace('stale: 1h', 'stale: 5s\nhistory: stale-history/'));
    await apps.c.close();
    stopped.add('c');
    const doc = await until('site c stale', async () => {
      const r = await airlock(['fleet', 'status', '-f', k('fleet-stale.yaml'), '--json'], { env: env() });
      const d = JSON.parse(r.stdout) as { sites: { name: string; state: string; rows: { reason?: string }[] }[] };
      const states = d.sites.map((s) => s.state);
      return states[2] === 'stale' && states[0] === 'current' && states[1] === 'current' ? d : undefined;
    }, 30_000);
    expect(doc.sites[2]?.rows[0]?.reason).toMatch(/^last heard of \d{4}-/);
  });
});
