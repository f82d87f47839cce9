/**
 * Retention and garbage collection (ADR 009): 20 successive releases, each adding a 20 MiB layer of random bytes
 * (no compression helps) to a small shared base, imported with --keep 3. The blobs on disk stay within three
 * releases' own layers plus the base; every held release re-applies, a dropped one answers a clear error; the
 * registry (skopeo) serves only held images and the Git mirror keeps only held staged snapshots. `airlock appliance
 * gc --dry-run` reports and removes nothing, `gc` removes. A receive killed mid-blob leaves a partial ingest file,
 * which the next start removes.
 */
import { randomBytes } from 'node:crypto';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { airlock, cli } from '../helpers/cli.js';
import { exec, run } from '../helpers/exec.js';
import { type Layer, tagLayout, writeBlob, writeImage, writeLayer } from '../helpers/images.js';
import { retention } from '../../appliance/gc/collect.js';
import { type Site, api, importPath, makeSite, spawnAppliance, start, waitImport } from '../helpers/appliance-fixture.js';

const MiB = 1024 * 1024;
const RELEASES = 20;

interface Release {
  sequence: number;
  root: string;
  manifest: string;
  layer: string;
  commit: string;
}

let site: Site;
let base: Layer;
let dataDir: string;
let app: Awaited<ReturnType<typeof start>>;
const releases: Release[] = [];
let layerBytes = 0;

async function blobsDu(): Promise<number> {
  return Number((await run('du', ['-sb', join(dataDir, 'store', 'blobs')])).split('\t')[0]);
}

/** An uncompressed layer of random bytes (gzip would not shrink it and only costs time). */
async function randomLayer(): Promise<Layer> {
  const desc = await writeBlob(site.layout, randomBytes(20 * MiB), 'application/vnd.oci.image.layer.v1.tar');
  return { desc, diffId: desc.digest };
}

async function release(sequence: number): Promise<Release> {
  const layer = await randomLayer();
  layerBytes = Math.max(layerBytes, layer.desc.size);
  const image = await writeImage(site.layout, [base, layer]);
  await tagLayout(site.layout, image, `team/rel:v${sequence}`);
  const commit = await site.commit({ [`clusters/store/r${sequence}.yaml`]: `kind: ConfigMap\n# ${sequence}\n` }, `release ${sequence}`);
  const file = await site.bundle({ sequence, name: `r${sequence}`, images: [`team/rel:v${sequence}`] });
  const record = await importPath(app.url, app.token, `r${sequence}.airlock`);
  expect(record.state, JSON.stringify(record.error)).toBe('applied');
  const full = await api<{ rootDigest: string }>(app.url, app.token, `/api/v1/imports/${record.id}`);
  // the site's copy of the layer and the bundle file are not needed any more (keeps the test's disk small)
  await rm(file);
  await rm(join(site.layout, 'blobs', 'sha256', layer.desc.digest.slice(7)));
  return { sequence, root: full.body.rootDigest, manifest: image.digest, layer: layer.desc.digest, commit };
}

/** Waits for the collection that follows an import (a dry run queues behind it) and returns what is left to do. */
async function pendingGc(): Promise<{ blobs: { count: number }; dropped: unknown[] }> {
  const r = await api<{ blobs: { count: number }; dropped: unknown[] }>(app.url, app.token, '/api/v1/gc', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"dryRun":true}' });
  expect(r.status).toBe(200);
  return r.body;
}

beforeAll(async () => {
  site = await makeSite({ layerSize: 2000 });
  base = await writeLayer(site.layout, 64 * 1024);
  dataDir = join(site.dir, 'data');
  app = await start(site, { dataDir, keep: 3 });
});

afterAll(async () => {
  await app?.close();
});

// 20 × 20 MiB is written three times (site layout, bundle, store): minutes on a loaded machine, not a timing test
describe('--keep 3 over 20 releases of a 20 MiB layer each', { timeout: 900_000 }, () => {
  it('keeps the blobs on disk within three releases plus the shared base', async () => {
    for (let sequence = 1; sequence <= RELEASES; sequence++) {
      releases.push(await release(sequence));
      expect(await pendingGc()).toMatchObject({ blobs: { count: 0 }, dropped: [] });
      const du = await blobsDu();
      const held = Math.min(sequence, 3);
      expect(du).toBeGreaterThanOrEqual(held * 20 * MiB);
      expect(du).toBeLessThanOrEqual(held * layerBytes + 64 * 1024 + MiB); // + base, manifests, configs, git bundles, directories
    }
    // the last three layers are held, every older one is gone
    const files = new Set(await readdir(join(dataDir, 'store', 'blobs', 'sha256')));
    expect(releases.map((r) => files.has(r.layer.slice(7)))).toEqual(releases.map((r) => r.sequence > RELEASES - 3));
  });

  it('re-applies every held release; a dropped one answers a clear error', async () => {
    for (const r of releases.slice(-3).reverse().concat(releases.slice(-1))) {
      const started = await api<{ id: string }>(app.url, app.token, `/api/v1/bundles/${r.root}/apply`, { method: 'POST' });
      expect(started.status).toBe(202);
      const done = await waitImport(app.url, app.token, started.body.id);
      expect(done.state, JSON.stringify(done.error)).toBe('applied');
      expect(done.sequence).toBe(r.sequence);
    }
    const dropped = releases[RELEASES - 4] as Release;
    const refused = await api<{ error: { code: string; message: string } }>(app.url, app.token, `/api/v1/bundles/${dropped.root}/apply`, { method: 'POST' });
    expect(refused.status).toBe(404);
    expect(refused.body.error.message).toContain(`sequence ${dropped.sequence}`);
    expect(refused.body.error.message).toContain('retention dropped it');
  });

  it('serves only held images in /v2 (skopeo) and keeps only held snapshots in the Git mirror', async () => {
    const host = new URL(app.url).host;
    for (const r of releases) {
      const res = await exec('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${host}/team/rel@${r.manifest}`]);
      if (r.sequence > RELEASES - 3) expect(res.code, res.stderr).toBe(0);
      else expect(res.stderr).toMatch(/manifest unknown/i);
    }
    const dropped = releases[0] as Release;
    expect((await fetch(`${app.url}/v2/team/rel/blobs/${dropped.layer}`)).status).toBe(404);
    const staged = (await run('git', ['-C', join(dataDir, 'git', 'platform.git'), 'for-each-ref', '--format=%(refname:lstrip=3)', 'refs/airlock/staged'])).split('\n').filter(Boolean).sort();
    expect(staged).toEqual(releases.slice(-3).map((r) => r.commit).sort());
    // the published branch and its history are untouched
    expect((await run('git', ['ls-remote', `${app.url}/git/platform.git`, 'refs/heads/main'])).split('\t')[0]).toBe(releases[RELEASES - 1]?.commit);
  });

  it('`airlock appliance gc --dry-run` reports and removes nothing; `gc` removes', async () => {
    await app.close();
    app = await start(site, { dataDir, keep: 1 });
    const tokenFile = join(site.dir, 'admin-token');
    await writeFile(tokenFile, app.token);
    const before = await blobsDu();
    const dry = await cli(['appliance', 'gc', '--server', app.url, '--token-file', tokenFile, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`releases to drop: stable#${RELEASES - 1}, stable#${RELEASES - 2}`);
    const wouldRemove = Number(/total: .* \((\d+) bytes\)/.exec(dry.stdout)?.[1]);
    expect(wouldRemove).toBeGreaterThanOrEqual(2 * 20 * MiB);
    expect(await blobsDu()).toBe(before);

    const real = await cli(['appliance', 'gc', '--server', app.url, '--token-file', tokenFile, '--json']);
    expect(real.code, real.stderr).toBe(0);
    const report = JSON.parse(real.stdout) as { blobs: { count: number; bytes: number }; dropped: { sequence: number }[] };
    expect(report.dropped.map((r) => r.sequence).sort()).toEqual([RELEASES - 2, RELEASES - 1]);
    expect(await blobsDu()).toBeLessThanOrEqual(before - report.blobs.bytes + 4096);
    expect(await blobsDu()).toBeLessThanOrEqual(layerBytes + 64 * 1024 + MiB);
    // not without a token (the route needs the admin role)
    expect((await api(app.url, undefined, '/api/v1/gc', { method: 'POST' })).status).toBe(401);
  });

  it('refuses --keep 0 before starting', async () => {
    const res = await airlock(['appliance', 'serve', '--data', join(site.dir, 'never'), '--trust', site.trustPath, '--keep', '0']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--keep "0"');
    await expect(stat(join(site.dir, 'never'))).rejects.toThrow();
  });
});

describe('partial ingest files', { timeout: 300_000 }, () => {
  it('of a receive killed mid-blob are removed at the next start', async () => {
    const killedDir = join(site.dir, 'killed');
    const child = await spawnAppliance(site, killedDir);
    const token = await child.token();
    const layer = await randomLayer();
    await tagLayout(site.layout, await writeImage(site.layout, [base, layer]), 'team/rel:killed');
    const file = await site.bundle({ sequence: 1, name: 'killed', images: ['team/rel:killed'] });
    const size = (await stat(file)).size;
    const session = await api<{ id: string }>(child.url, token, '/api/v1/uploads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ size }) });
    expect(session.status).toBe(201);
    // half the bundle: the 20 MiB layer is partly received when the upload pauses
    const { createReadStream } = await import('node:fs');
    const half = createReadStream(file, { start: 0, end: Math.floor(size / 2) - 1 });
    await fetch(`${child.url}/api/v1/uploads/${session.body.id}`, { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'upload-offset': '0', 'content-type': 'application/octet-stream' }, body: half as unknown as BodyInit, duplex: 'half' } as RequestInit);
    const ingest = join(killedDir, 'store', 'ingest');
    let partial = 0;
    for (let i = 0; i < 100 && partial === 0; i++) {
      for (const name of await readdir(ingest).catch(() => [] as string[])) partial += (await stat(join(ingest, name))).size;
      if (partial === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(partial).toBeGreaterThan(MiB);
    // never a blob of a running import: collection is refused while it runs, its partial file stays
    const busy = await api<{ error: { code: string } }>(child.url, token, '/api/v1/gc', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('IMPORT_RUNNING');
    expect((await readdir(ingest)).length).toBeGreaterThan(0);
    child.child.kill('SIGKILL');
    await child.exited;
    expect((await readdir(ingest)).length).toBeGreaterThan(0);

    const logged: string[] = [];
    const again = await start(site, { dataDir: killedDir, log: { info: (msg) => logged.push(msg), warn: (msg) => logged.push(msg), error: (msg) => logged.push(msg) } });
    try {
      expect(await readdir(ingest)).toEqual([]);
      expect(logged).toContain('removed partial blobs of interrupted imports');
    } finally {
      await again.close();
    }
  });
});

describe('which releases are held', () => {
  it('per channel: the bundle in force (even after a rollback) and the newest others, up to --keep', () => {
    const r = (channel: string, sequence: number, inForce = false) => ({ channel, sequence, rootDigest: `${channel}-${sequence}`, name: 'x', inForce });
    const releases = [r('stable', 5), r('stable', 4), r('stable', 3), r('stable', 2, true), r('stable', 1), r('edge', 9, true), r('edge', 8)];
    const held = (keep: number) => retention(releases, keep).kept.map((k) => k.rootDigest).sort();
    expect(held(3)).toEqual(['edge-8', 'edge-9', 'stable-2', 'stable-4', 'stable-5']);
    expect(retention(releases, 3).dropped.map((k) => k.rootDigest).sort()).toEqual(['stable-1', 'stable-3']);
    expect(held(1)).toEqual(['edge-9', 'stable-2']);
  });
});
