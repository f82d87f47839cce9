/**
 * Links that come and go, between the appliance and a real docker-registry depot (the fault proxy counts what
 * crosses it): a 200 MiB layer cut off several times and stalled once still arrives, with the bytes fetched at most
 * 1.05× what was missing (each piece asked for with Range from the ingest file); a depot that ignores Range (200
 * instead of 206) restarts the blob; an import given up on resumes at the next poll from the bytes already held.
 */
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSite, type Site, start } from '../helpers/appliance-fixture.js';
import { tagLayout, writeBlob, writeImage } from '../helpers/images.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';
import { type CountingProxy, startCountingProxy } from './depot-proxy.js';
import { depotView, pushTo } from './depot-site-helpers.js';

let registry: TestRegistry;
let proxy: CountingProxy;
let site: Site;
type App = Awaited<ReturnType<typeof start>>;
let app: App;
const MiB = 1024 * 1024;
const REPO = 'fleet/faults';
const warnings: string[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startCountingProxy(registry.host);
  site = await makeSite();
  app = await start(site, {
    log: { info: () => undefined, error: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`), warn: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`) },
    channel: 'stable',
    depot: { url: `oci://${proxy.host}/${REPO}`, intervalMs: 3600_000, reportIntervalMs: 3600_000, readTimeoutMs: 1000, blobAttempts: 3 },
  });
  await app.imports.idle();
}, 60_000);

afterAll(async () => {
  await app?.close();
  await proxy?.stop();
  await registry?.stop();
  if (site) await rm(site.dir, { recursive: true, force: true });
});

async function poll(): Promise<void> {
  await (app.ctx.depot as unknown as { poller: { pollNow(): Promise<void> } }).poller.pollNow();
  await app.imports.idle();
}

/** A new image with one layer of `size` random bytes (left uncompressed: nothing here unpacks it); the layer's descriptor. */
async function image(name: string, size: number): Promise<{ digest: string; size: number }> {
  const raw = randomBytes(size);
  const layer = { desc: await writeBlob(site.layout, raw, 'application/vnd.oci.image.layer.v1.tar'), diffId: `sha256:${createHash('sha256').update(raw).digest('hex')}` };
  await tagLayout(site.layout, await writeImage(site.layout, [layer]), name);
  return layer.desc;
}

const blobRequests = (digest: string) => proxy.log.filter((r) => r.method === 'GET' && r.url.endsWith(`/blobs/${digest}`));

describe('a depot behind a link that drops', () => {
  it('a 200 MiB layer cut off three times and stalled once arrives whole; bytes fetched ≤ 1.05× what was missing', async () => {
    const big = await image('team/big:1.0', 200 * MiB);
    const file = await site.bundle({ sequence: 1, images: ['team/app:1.0', 'team/big:1.0'] });
    await pushTo(file, `oci://${registry.host}/${REPO}`);
    let n = 0; // requests for the big layer: the first three are cut, the fourth stalls
    proxy.rate = (method, url) => (method === 'GET' && url.endsWith(big.digest) ? 64 * MiB : undefined); // a link slower than the disk
    proxy.cutAfter = (method, url) => (method === 'GET' && url.endsWith(big.digest) && ++n <= 3 ? 40 * MiB : undefined);
    proxy.stallAfter = (method, url) => (method === 'GET' && url.endsWith(big.digest) && n === 4 ? 20 * MiB : undefined);
    const from = proxy.log.length;
    try {
      await poll();
    } finally {
      proxy.cutAfter = undefined;
      proxy.stallAfter = undefined;
      proxy.rate = undefined;
    }
    const view = depotView(app);
    expect(view.lastRelease).toMatchObject({ sequence: 1, state: 'applied' });
    expect(app.ctx.state.lastAccepted('stable')?.sequence).toBe(1);
    expect(app.ctx.state.isPublished(big.digest)).toBe(true);
    const requests = blobRequests(big.digest).filter((r) => proxy.log.indexOf(r) >= from);
    expect(requests.length).toBe(5); // three cuts, one stall, the rest
    expect(requests[0]?.range).toBeUndefined();
    // every later request asks for the rest from where the ingest file ended (≤ what the proxy had sent)
    let sent = 0;
    for (const [i, r] of requests.entries()) {
      if (i > 0) {
        const startAt = Number(/^bytes=(\d+)-$/.exec(r.range ?? '')?.[1]);
        expect(r.status).toBe(206);
        expect(startAt).toBeGreaterThan(i === 1 ? 0 : Number(/^bytes=(\d+)-$/.exec(requests[i - 1]?.range ?? '')?.[1]));
        expect(startAt).toBeLessThanOrEqual(sent);
        sent = startAt;
      }
      sent += r.responseBytes;
    }
    expect(sent).toBe(big.size);
    const wire = proxy.log.slice(from).filter((r) => r.method === 'GET' && r.url.includes('/blobs/')).reduce((n, r) => n + r.responseBytes, 0);
    const missing = view.lastRelease?.missingBytes ?? 0;
    expect(missing).toBeGreaterThan(200 * MiB);
    expect(wire).toBeLessThanOrEqual(1.05 * missing);
    expect(view.lastRelease?.fetchedBytes).toBe(missing);
  }, 180_000);

  it('a depot that answers a Range with 200 restarts that blob; the release still applies', async () => {
    const layer = await image('team/small:1.0', 4 * MiB);
    const file = await site.bundle({ sequence: 2, images: ['team/app:1.0', 'team/big:1.0', 'team/small:1.0'] });
    await pushTo(file, `oci://${registry.host}/${REPO}`);
    let first = true;
    proxy.cutAfter = (method, url) => (method === 'GET' && url.endsWith(layer.digest) && first ? ((first = false), MiB) : undefined);
    proxy.dropRange = (method, url) => method === 'GET' && url.endsWith(layer.digest);
    const from = proxy.log.length;
    try {
      await poll();
    } finally {
      proxy.cutAfter = undefined;
      proxy.dropRange = undefined;
    }
    expect(depotView(app).lastRelease).toMatchObject({ sequence: 2, state: 'applied' });
    const requests = blobRequests(layer.digest).filter((r) => proxy.log.indexOf(r) >= from);
    expect(requests.map((r) => r.status)).toEqual([200, 200]);
    expect(requests[0]?.range).toBeUndefined();
    expect(requests[1]?.range).toMatch(/^bytes=\d+-$/); // asked for the rest, given the whole blob: started again
    expect(requests[1]?.responseBytes).toBe(layer.size);
    // nothing was fetched twice for the 200 MiB layer held since release 1
    expect(proxy.log.slice(from).filter((r) => r.url.includes('/blobs/') && r.responseBytes > 5 * MiB)).toEqual([]);
  }, 60_000);

  it('an import given up on (the link stays down) resumes at the next poll from the bytes in the ingest file', async () => {
    const layer = await image('team/later:1.0', 6 * MiB);
    const file = await site.bundle({ sequence: 3, images: ['team/app:1.0', 'team/later:1.0'] });
    await pushTo(file, `oci://${registry.host}/${REPO}`);
    let cut = false;
    proxy.cutAfter = (method, url) => (method === 'GET' && url.endsWith(layer.digest) && !cut ? ((cut = true), 2 * MiB) : undefined);
    proxy.failWith = (method, url) => (method === 'GET' && url.endsWith(layer.digest) && cut ? 503 : undefined);
    try {
      await poll();
    } finally {
      proxy.cutAfter = undefined;
      proxy.failWith = undefined;
    }
    const failed = depotView(app);
    expect(failed.lastRelease).toMatchObject({ sequence: 3, state: 'failed' });
    expect(failed.lastError?.message).toMatch(/kept; the next poll resumes there/);
    expect(app.ctx.state.lastAccepted('stable')?.sequence).toBe(2);
    const from = proxy.log.length;
    await poll();
    const done = depotView(app);
    expect(done.lastRelease).toMatchObject({ sequence: 3, state: 'applied' });
    const resumed = done.lastRelease?.resumedBytes ?? 0;
    expect(resumed).toBeGreaterThan(0);
    expect(resumed).toBeLessThanOrEqual(2 * MiB);
    const requests = blobRequests(layer.digest).filter((r) => proxy.log.indexOf(r) >= from);
    expect(requests.map((r) => [r.range, r.status])).toEqual([[`bytes=${resumed}-`, 206]]);
    expect(requests[0]?.responseBytes).toBe(layer.size - resumed);
  }, 60_000);
});
