/**
 * Receipts inline in their manifest (OCI 1.1 descriptor `data`, ADR 016): the appliance's push against a real
 * docker-registry carries the receipt in the layer descriptor and as the blob (skopeo reads both), and
 * `airlock fleet status` reads such a site with exactly one request (counted behind a proxy), a receipt without
 * `data` (an older appliance, or one over the inline limit) with the blob request as before, and refuses
 * embedded bytes that do not match the descriptor even when they are a validly signed receipt of the site.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INLINE_RECEIPT_LIMIT, pushReceipt as pushAsAppliance, receiptManifest } from '../../appliance/depot/report.js';
import { type SecretKey, generateKey, writeKeyFiles } from '../../keys/key-file.js';
import { signReceipt } from '../../keys/receipt.js';
import { MediaType } from '../../src/descriptor.js';
import { connectDepot } from '../../src/depot/connect.js';
import { descriptorOf, parseDepotRef } from '../../src/depot/layout.js';
import { RegistryRepository } from '../../src/registry/repository.js';
import { cli } from '../helpers/cli.js';
import { run } from '../helpers/exec.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';
import { type CountingProxy, startCountingProxy } from './depot-proxy.js';
import { receiptText } from './fleet-receipts.js';

const NOW = new Date('2026-11-30T12:00:00Z');
const ROOT = `sha256:${'e'.repeat(64)}`;
const REPO = 'hq';
const SITES = ['store-new', 'store-old', 'store-big', 'store-swapped'] as const;

let registry: TestRegistry;
let proxy: CountingProxy;
let work: string;
const keys: Record<string, SecretKey> = {};
const texts: Record<string, string> = {};
const k = (name: string) => join(work, name);

interface Layer {
  mediaType: string;
  digest: string;
  size: number;
  data?: string;
}
interface JsonSite {
  name: string;
  state: string;
  trust: string;
  rows: { state: string; health: string; reason?: string; release: { root: string } | null }[];
}

async function withSiteRepo<T>(site: string, fn: (repo: RegistryRepository) => Promise<T>): Promise<T> {
  const { repo: top, close } = await connectDepot({ ref: parseDepotRef(`oci://${registry.host}/${REPO}`), env: {} });
  try {
    return await fn(new RegistryRepository(top.client, `${top.name}/sites/${site}`));
  } finally {
    close();
  }
}

const manifestOf = async (site: string) => JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/${REPO}/sites/${site}:latest`])) as { layers: Layer[] };

/** Per site, the requests `fleet status` made below REPO/sites/SITE/ (method and the path after it). */
function perSite(from: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const r of proxy.log.slice(from)) {
    const m = new RegExp(`^/v2/${REPO}/sites/([^/]+)/(manifests|blobs)/`).exec(r.url);
    if (m?.[1]) (out[m[1]] ??= []).push(`${r.method} ${m[2]}`);
  }
  return out;
}

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startCountingProxy(registry.host);
  work = await mkdtemp(join(tmpdir(), 'airlock-fleet-inline-'));
  await mkdir(k('docker'));
  await writeFile(k('docker/config.json'), '{}');
  for (const site of SITES) {
    keys[site] = generateKey(site);
    await writeKeyFiles(k(site), keys[site] as SecretKey);
  }
  await writeFile(k('fleet.yaml'), `kind: Fleet\nstale: 24h\nsites:\n${SITES.map((n) => `  - {name: ${n}, labels: {region: eu}, key: ${n}.pub}\n`).join('')}waves:\n  - {name: all, selector: {}}\n`);
  const created = new Date(NOW.getTime() - 5 * 60_000);
  for (const site of SITES) texts[site] = receiptText(keys[site] as SecretKey, { site, created, root: ROOT });
  // store-big holds so many blobs that its receipt is over the inline limit.
  const payload = JSON.parse(Buffer.from((JSON.parse(texts['store-big'] as string) as { payload: string }).payload, 'base64').toString('utf8')) as Record<string, unknown>;
  const blobs = Array.from({ length: 4000 }, (_, i) => `sha256:${i.toString(16).padStart(64, '0')}`);
  texts['store-big'] = signReceipt({ ...(payload as unknown as Parameters<typeof signReceipt>[0]), blobs }, keys['store-big'] as SecretKey);
  expect(Buffer.byteLength(texts['store-big'])).toBeGreaterThan(INLINE_RECEIPT_LIMIT);

  const at = created.toISOString();
  await withSiteRepo('store-new', (repo) => pushAsAppliance(repo, texts['store-new'] as string, at));
  // An appliance from before the inline receipt: the manifest names the blob only.
  await withSiteRepo('store-old', (repo) => pushAsAppliance(repo, texts['store-old'] as string, at, 0));
  await withSiteRepo('store-big', (repo) => pushAsAppliance(repo, texts['store-big'] as string, at));
  // store-swapped: the blob is its receipt of now, but the manifest embeds another receipt the site really signed
  // (an hour older, health Unknown: the same length). Its signature verifies; only the digest check can tell.
  const older = receiptText(keys['store-swapped'] as SecretKey, { site: 'store-swapped', created: new Date(NOW.getTime() - 3600_000), root: ROOT, health: 'Unknown' });
  expect(older.length).toBe(texts['store-swapped']?.length);
  await withSiteRepo('store-swapped', async (repo) => {
    await pushAsAppliance(repo, texts['store-swapped'] as string, at);
    const manifest = JSON.parse(receiptManifest(Buffer.from(texts['store-swapped'] as string), at).toString('utf8')) as { layers: Layer[] };
    (manifest.layers[0] as Layer).data = Buffer.from(older).toString('base64');
    const bytes = Buffer.from(JSON.stringify(manifest));
    await repo.putManifest(descriptorOf(bytes, MediaType.ociManifest), bytes, 'latest');
  });
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('receipts inline in their manifest', () => {
  it('the appliance pushes the receipt in the layer descriptor and as the blob; skopeo reads the blob as ever', async () => {
    const manifest = await manifestOf('store-new');
    const layer = manifest.layers[0] as Layer;
    expect(layer.mediaType).toBe('application/vnd.airlock.receipt.v1+json');
    expect(Buffer.from(layer.data ?? '', 'base64').toString('utf8')).toBe(texts['store-new']);
    expect(layer.size).toBe(Buffer.byteLength(texts['store-new'] as string));
    // skopeo copies the artifact out of the registry: the layer's blob is the receipt, byte for byte.
    const out = k('copied');
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/${REPO}/sites/store-new:latest`, `oci:${out}:r`]);
    expect(await readFile(join(out, 'blobs', 'sha256', layer.digest.slice('sha256:'.length)), 'utf8')).toBe(texts['store-new']);
    // Over the limit, the manifest names the blob only; under it an older appliance's has no data either.
    expect((await manifestOf('store-big')).layers[0]?.data).toBeUndefined();
    expect((await manifestOf('store-old')).layers[0]?.data).toBeUndefined();
  });

  it('fleet status reads an inline receipt with one GET per site, the others with the blob, and refuses a swapped one', async () => {
    const from = proxy.log.length;
    const r = await cli(['fleet', 'status', '-f', k('fleet.yaml'), '--depot', `oci://${proxy.host}/${REPO}`, '--history', k('history'), '--json'], { env: { DOCKER_CONFIG: k('docker') }, now: NOW });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const requests = perSite(from);
    expect(requests['store-new']).toEqual(['GET manifests']);
    expect(requests['store-old']).toEqual(['GET manifests', 'GET blobs']);
    expect(requests['store-big']).toEqual(['GET manifests', 'GET blobs']);
    // The swapped receipt is refused before any fallback: no blob read takes its place.
    expect(requests['store-swapped']).toEqual(['GET manifests']);

    const sites = Object.fromEntries((JSON.parse(r.stdout) as { sites: JsonSite[] }).sites.map((s) => [s.name, s]));
    for (const site of ['store-new', 'store-old', 'store-big']) {
      expect(sites[site]).toMatchObject({ state: 'current', trust: 'trusted' });
      expect(sites[site]?.rows[0]?.release?.root).toBe(ROOT);
    }
    expect(sites['store-swapped']?.state).toBe('untrusted');
    expect(sites['store-swapped']?.rows[0]?.reason).toMatch(/receipt embedded in the manifest .* has digest sha256:[0-9a-f]{64}, the descriptor says sha256:[0-9a-f]{64}: the manifest was altered/);
    // Kept in the history folder as read: the inline bytes are the receipt the site signed.
    expect(await readFile(join(k('history'), 'store-new', '2026-11-30T11_55_00.000Z.json'), 'utf8')).toBe(texts['store-new']);
  });

  it('refuses embedded bytes that are not base64 or not the descriptor\'s size, with the reason', async () => {
    await withSiteRepo('store-swapped', async (repo) => {
      const manifest = JSON.parse(receiptManifest(Buffer.from(texts['store-swapped'] as string), NOW.toISOString()).toString('utf8')) as { layers: Layer[] };
      (manifest.layers[0] as Layer).data = Buffer.from(`${texts['store-swapped'] as string}ABC`).toString('base64'); // three bytes more
      const bytes = Buffer.from(JSON.stringify(manifest));
      await repo.putManifest(descriptorOf(bytes, MediaType.ociManifest), bytes, 'latest');
    });
    const status = async () => {
      const r = await cli(['fleet', 'status', '-f', k('fleet.yaml'), '--depot', `oci://${registry.host}/${REPO}`, '--history', k('history'), '--json'], { env: { DOCKER_CONFIG: k('docker') }, now: NOW });
      expect(r.code).toBe(0);
      return (JSON.parse(r.stdout) as { sites: JsonSite[] }).sites.find((s) => s.name === 'store-swapped');
    };
    expect(await status()).toMatchObject({ state: 'untrusted', rows: [{ reason: expect.stringMatching(/has \d+ bytes, the descriptor says \d+: the manifest was altered/) as unknown as string }] });

    await withSiteRepo('store-swapped', async (repo) => {
      const manifest = JSON.parse(receiptManifest(Buffer.from(texts['store-swapped'] as string), NOW.toISOString()).toString('utf8')) as { layers: Layer[] };
      (manifest.layers[0] as Layer).data = 'not base64!';
      const bytes = Buffer.from(JSON.stringify(manifest));
      await repo.putManifest(descriptorOf(bytes, MediaType.ociManifest), bytes, 'latest');
    });
    expect((await status())?.rows[0]?.reason).toMatch(/receipt embedded in the manifest .* is not base64/);
  });
});
