/**
 * Layer-level deltas and site receipts, end to end: a delta against an earlier bundle carries only the new
 * layers and a git bundle of the new commit (which plain git verifies against a repository holding the base); the
 * appliance imports it when it holds the base and refuses it, naming the base, when it does not; the receipt the
 * appliance signs verifies with its public key, serves as --base, and a delta from it only imports on that site.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBase } from '../../bundler/base.js';
import { type SecretKey, readPublicKey, writeKeyFiles } from '../../keys/key-file.js';
import { verifyReceipt } from '../../keys/receipt.js';
import { inspectBundleFile } from '../../bundler/verify.js';
import { type Site, api, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { cli } from '../helpers/cli.js';
import { run } from '../helpers/exec.js';
import { tagLayout, writeImage, writeLayer } from '../helpers/images.js';
import { type RawEntry, splitTar } from '../helpers/tar-edit.js';

let site: Site;
let app: Awaited<ReturnType<typeof start>>;
let full: string;
let firstCommit: string;

beforeAll(async () => {
  site = await makeSite({ layerSize: 200_000 });
  full = await site.bundle({ sequence: 1, name: 'full' });
  firstCommit = (await run('git', ['-C', site.repo, 'rev-parse', 'HEAD'])).trim();
  app = await start(site);
  expect(await importPath(app.url, app.token, 'full.airlock')).toMatchObject({ state: 'applied' });
});

async function tarEntries(path: string): Promise<RawEntry[]> {
  return splitTar(await readFile(path));
}

afterAll(async () => {
  await app?.close();
});

/** Adds team/worker:3.0 = the base layer of worker:1.0 plus one new layer; returns the new layer's digest. */
async function newWorkerImage(): Promise<{ newLayer: string; sharedLayer: string }> {
  const worker1 = await imageLayers('team/worker:1.0');
  const shared = worker1[0] ?? '';
  const gz = await readFile(join(site.layout, 'blobs', 'sha256', shared.slice('sha256:'.length)));
  const sharedLayer = {
    desc: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: shared, size: gz.length },
    diffId: `sha256:${createHash('sha256').update(gunzipSync(gz)).digest('hex')}`,
  };
  const fresh = await writeLayer(site.layout, 120_000);
  await tagLayout(site.layout, await writeImage(site.layout, [sharedLayer, fresh]), 'team/worker:3.0');
  return { newLayer: fresh.desc.digest, sharedLayer: shared };
}

async function imageLayers(ref: string): Promise<string[]> {
  const index = JSON.parse(await readFile(join(site.layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (!desc) throw new Error(`no ${ref} in the layout`);
  return layersOf(desc.digest);
}

/** The layers of a manifest, or of every manifest of an index. */
async function layersOf(digest: string): Promise<string[]> {
  const doc = JSON.parse(await readFile(join(site.layout, 'blobs', 'sha256', digest.slice('sha256:'.length)), 'utf8')) as { layers?: { digest: string }[]; manifests?: { digest: string }[] };
  if (doc.manifests) return (await Promise.all(doc.manifests.map((m) => layersOf(m.digest)))).flat();
  return (doc.layers ?? []).map((l) => l.digest);
}

describe('delta against an earlier bundle', () => {
  let delta: string;
  let layers: { newLayer: string; sharedLayer: string };
  let secondCommit: string;

  it('carries only the layers and Git objects the base lacks', async () => {
    layers = await newWorkerImage();
    secondCommit = await site.commit({ 'clusters/store/cm2.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n' }, 'second');
    const base = await loadBase({ path: full, channel: 'stable', applianceKeys: [] });
    delta = await site.bundle({ sequence: 2, name: 'delta', images: ['team/app:1.0', 'team/worker:3.0'], base });

    const entries = await tarEntries(delta);
    const blobNames = entries.filter((e) => e.name.startsWith('blobs/')).map((e) => `sha256:${e.name.slice('blobs/sha256/'.length)}`);
    expect(blobNames).toContain(layers.newLayer);
    expect(blobNames).not.toContain(layers.sharedLayer);
    const appLayers = await imageLayers('team/app:1.0');
    expect(appLayers.length).toBe(4);
    for (const held of appLayers) expect(blobNames).not.toContain(held);
    const fullSize = (await readFile(full)).length;
    const deltaSize = (await readFile(delta)).length;
    // 200 kB shared + app layers left out; the new 120 kB layer and small metadata carried
    expect(deltaSize).toBeLessThan(120_000 + 60_000);
    expect(deltaSize).toBeLessThan(fullSize / 2);

    const summary = await inspectBundleFile(delta);
    expect(summary.base).toBe(base.base);
    expect(summary.git[0]?.commit).toBe(secondCommit);
  });

  it('holds a git bundle of the new commit that plain git verifies against a repository with the base', async () => {
    const entries = await tarEntries(delta);
    const gitEntry = entries.find((e) => e.body.subarray(0, 16).toString() === '# v2 git bundle\n');
    expect(gitEntry).toBeDefined();
    const bundleFile = join(site.dir, 'delta-git.bundle');
    await writeFile(bundleFile, gitEntry?.body ?? Buffer.alloc(0));
    const header = (gitEntry?.body ?? Buffer.alloc(0)).subarray(0, 400).toString('latin1');
    expect(header).toContain(`-${firstCommit}`);

    const withBase = join(site.dir, 'clone-at-base');
    await run('git', ['clone', '-q', '--no-checkout', site.repo, withBase]);
    await run('git', ['-C', withBase, 'update-ref', 'refs/heads/main', firstCommit]);
    await run('git', ['-C', withBase, 'reflog', 'expire', '--expire=now', '--all']);
    await run('git', ['-C', withBase, 'gc', '-q', '--prune=now']);
    await run('git', ['-C', withBase, 'bundle', 'verify', '-q', bundleFile]);
    await run('git', ['-C', withBase, 'fetch', '-q', bundleFile, 'HEAD:refs/heads/delta']);
    expect((await run('git', ['-C', withBase, 'rev-parse', 'refs/heads/delta'])).trim()).toBe(secondCommit);

    const empty = join(site.dir, 'empty-repo');
    await run('git', ['init', '-q', empty]);
    await expect(run('git', ['-C', empty, 'bundle', 'verify', bundleFile])).rejects.toThrow(/prerequisite|lacks/i);
  });

  it('imports on the site that holds the base: every image complete in /v2, the Git branch moved', async () => {
    const record = await importPath(app.url, app.token, 'delta.airlock');
    expect(record).toMatchObject({ state: 'applied' });
    const manifest = await fetch(`${app.url}/v2/team/worker/manifests/3.0`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(manifest.status).toBe(200);
    const shared = await fetch(`${app.url}/v2/team/worker/blobs/${layers.sharedLayer}`);
    expect(shared.status).toBe(200);
    const fresh = await fetch(`${app.url}/v2/team/worker/blobs/${layers.newLayer}`);
    expect(fresh.status).toBe(200);
    const heads = await run('git', ['ls-remote', `${app.url}/git/platform.git`, 'refs/heads/main']);
    expect(heads).toContain(secondCommit);
  });

  it('is refused by a site that never held its base, naming the base', async () => {
    const other = await start(site);
    try {
      const record = await importPath(other.url, other.token, 'delta.airlock');
      expect(record).toMatchObject({ state: 'failed', error: { code: 'BASE_MISMATCH' } });
      expect(record.error?.message).toContain('never applied on channel stable');
      expect(other.ctx.state.status()).toEqual([]);
      // a full bundle still imports there afterwards
      expect(await importPath(other.url, other.token, 'full.airlock')).toMatchObject({ state: 'applied' });
    } finally {
      await other.close();
    }
  });

  it('refuses a base bundle of another channel when building', async () => {
    await expect(loadBase({ path: full, channel: 'edge', applianceKeys: [] })).rejects.toThrow(/channel stable.*channel edge/);
  });
});

describe('site receipts', () => {
  let receiptPath: string;
  let keyPath: string;

  it('lists the bundle in force, every blob and every Git commit, signed by the appliance key', async () => {
    receiptPath = join(site.dir, 'receipt.json');
    keyPath = join(site.dir, 'site.pub');
    const fetched = await cli(['appliance', 'receipt', '--server', app.url, '--token-file', app.adminTokenPath, '-o', receiptPath, '--key-out', keyPath]);
    expect(fetched.stderr).toBe('');
    expect(fetched.code).toBe(0);
    const key = await readPublicKey(keyPath);
    expect(key.keyid).toBe(app.ctx.siteKey.keyid);
    const { receipt, signer } = verifyReceipt(await readFile(receiptPath, 'utf8'), [key], receiptPath);
    expect(signer).toBe(key.keyid);
    const inForce = app.ctx.state.status()[0];
    expect(receipt.channels).toEqual([expect.objectContaining({ channel: 'stable', sequence: 2, root: inForce?.rootDigest })]);
    expect(receipt.blobs).toEqual(app.ctx.state.publishedBlobs());
    expect(receipt.blobs.length).toBeGreaterThan(5);
    const commits = receipt.git.find((g) => g.name === 'platform')?.commits ?? [];
    expect(commits).toContain(firstCommit);
    expect(commits).toHaveLength(2);

    const shown = await cli(['receipt', 'verify', receiptPath, '--appliance-key', keyPath]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('channel stable');
    expect(shown.stdout).toContain(`${receipt.blobs.length} blob(s)`);
  });

  it('rejects a tampered receipt and one signed by another appliance, naming the file', async () => {
    const text = await readFile(receiptPath, 'utf8');
    const envelope = JSON.parse(text) as { payload: string };
    const payload = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as { blobs: string[] };
    payload.blobs.push(`sha256:${'a'.repeat(64)}`);
    const tampered = join(site.dir, 'tampered-receipt.json');
    await writeFile(tampered, JSON.stringify({ ...envelope, payload: Buffer.from(JSON.stringify(payload)).toString('base64') }));
    const bad = await cli(['receipt', 'verify', tampered, '--appliance-key', keyPath]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(tampered);
    expect(bad.stderr).toMatch(/does not verify/);

    const other = await start(site);
    try {
      const otherKey = join(site.dir, 'other.pub');
      expect((await cli(['appliance', 'receipt', '--server', other.url, '--token-file', other.adminTokenPath, '--key-out', otherKey, '-o', join(site.dir, 'other-receipt.json')])).code).toBe(0);
      const wrong = await cli(['receipt', 'verify', receiptPath, '--appliance-key', otherKey]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain(receiptPath);
      expect(wrong.stderr).toMatch(/not by a trusted appliance key/);
    } finally {
      await other.close();
    }
    const { secretPath } = await writeKeyFiles(join(site.dir, 'release'), site.trust.release[0] as SecretKey);
    const noKey = await cli(['bundle', 'create', '-f', join(site.dir, 'airlock.yaml'), '--key', secretPath, '-o', join(site.dir, 'never.airlock'), '--base', receiptPath]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('give the appliance\'s public key with --appliance-key');
  });

  it('is the base of a delta that imports on that site and nowhere else', async () => {
    const worker3 = await imageLayers('team/worker:3.0');
    await site.commit({ 'clusters/store/cm3.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n' }, 'third');
    const base = await loadBase({ path: receiptPath, channel: 'stable', applianceKeys: [await readPublicKey(keyPath)] });
    expect(base.baseSite).toBe(app.ctx.siteKey.keyid);
    const fromReceipt = await site.bundle({ sequence: 3, name: 'from-receipt', images: ['team/app:1.0', 'team/worker:3.0'], base });
    const blobNames = (await tarEntries(fromReceipt)).map((e) => e.name);
    for (const layer of worker3) expect(blobNames).not.toContain(`blobs/sha256/${layer.slice('sha256:'.length)}`);

    const other = await start(site);
    try {
      const refused = await importPath(other.url, other.token, 'from-receipt.airlock');
      expect(refused).toMatchObject({ state: 'failed', error: { code: 'BASE_MISMATCH' } });
      expect(refused.error?.message).toContain('receipt of appliance');
    } finally {
      await other.close();
    }
    expect(await importPath(app.url, app.token, 'from-receipt.airlock')).toMatchObject({ state: 'applied', sequence: 3 });
    const status = await api<{ channels: { sequence: number }[] }>(app.url, app.token, '/api/v1/status');
    expect(status.body.channels[0]?.sequence).toBe(3);
  });

  it('a delta whose prerequisite commits the mirror lacks fails listing them', async () => {
    // A site that holds every blob (it imported the full bundle) but whose receipt-based delta names commits it
    // never had: built against the main site's receipt, then imported into a site with only the first commit.
    const other = await start(site);
    try {
      expect(await importPath(other.url, other.token, 'full.airlock')).toMatchObject({ state: 'applied' });
      const receipt = join(site.dir, 'other-receipt-2.json');
      const key = join(site.dir, 'other-2.pub');
      expect((await cli(['appliance', 'receipt', '--server', other.url, '--token-file', other.adminTokenPath, '-o', receipt, '--key-out', key])).code).toBe(0);
      const base = await loadBase({ path: receipt, channel: 'stable', applianceKeys: [await readPublicKey(key)] });
      // pretend the site holds the second commit too, as a receipt from a newer state would
      base.commits.set('platform', [...(base.commits.get('platform') ?? []), (await run('git', ['-C', site.repo, 'rev-parse', 'HEAD~1'])).trim()]);
      await site.bundle({ sequence: 4, name: 'needs-commit', base });
      const record = await importPath(other.url, other.token, 'needs-commit.airlock');
      expect(record).toMatchObject({ state: 'failed', error: { code: 'BASE_MISSING' } });
      expect(record.error?.message).toContain((await run('git', ['-C', site.repo, 'rev-parse', 'HEAD~1'])).trim());
      expect(other.ctx.state.status()[0]?.sequence).toBe(1);
    } finally {
      await other.close();
    }
  });
});
