/**
 * Issue 16 item 2: /v2 closes every file it opens. A real appliance process serves ten `skopeo copy` runs and
 * hundreds of raw GETs (complete, cut off midway, HEAD, Range, multi-range, If-None-Match); its descriptors, read
 * from /proc/PID/fd, come back to the count before, and none points into the blob store.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Site, importPath, makeSite } from '../helpers/appliance-fixture.js';
import { run } from '../helpers/exec.js';
import { type PullAppliance, openFds, rawRequest, spawnPullAppliance } from '../helpers/pull-appliance.js';

let site: Site;
let app: PullAppliance;
let idleSockets: number;

const sockets = (fds: string[]) => fds.filter((t) => t.startsWith('socket:')).length;
const blobFiles = (fds: string[]) => fds.filter((t) => t.includes('/store/blobs/'));

/**
 * The descriptors once every connection of the test has closed: polled (the server sees each close a little
 * later) until no more than `atMost` are open, none in a blob file and no socket beyond the idle ones, or 15 s.
 */
async function settledFds(atMost = Infinity): Promise<string[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const fds = await openFds(app.pid);
    const settled = !fds.includes('gone') && sockets(fds) <= idleSockets && blobFiles(fds).length === 0 && fds.length <= atMost;
    if (settled || Date.now() > deadline) return fds;
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Desc {
  digest: string;
  mediaType: string;
  size: number;
}

async function json<T>(path: string, accept: string): Promise<T> {
  const res = await rawRequest(app.url, path, { headers: { accept } });
  expect(res.status).toBe(200);
  return JSON.parse(res.body.toString()) as T;
}

beforeAll(async () => {
  site = await makeSite({ layerSize: 3_000_000 });
  app = await spawnPullAppliance(site, join(site.dir, 'data'));
  idleSockets = sockets(await openFds(app.pid));
  await site.bundle({ sequence: 1, name: 'first' });
  expect((await importPath(app.url, await app.token(), 'first.airlock')).state).toBe('applied');
});

afterAll(async () => {
  await app?.stop();
});

describe('/v2 descriptors', () => {
  it('come back to the baseline after skopeo copies and raw GETs of every kind', async () => {
    const baseline = await settledFds();
    expect(sockets(baseline)).toBe(idleSockets);
    expect(blobFiles(baseline)).toEqual([]);

    for (let i = 0; i < 10; i++) {
      await run('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${app.host}/team/app:1.0`, `oci:${join(site.dir, `copy-${i}`)}:app`]);
    }

    const index = await json<{ manifests: Desc[] }>('/v2/team/app/manifests/1.0', 'application/vnd.oci.image.index.v1+json');
    const manifests = index.manifests;
    const blobs: Desc[] = [];
    for (const m of manifests) {
      const manifest = await json<{ config: Desc; layers: Desc[] }>(`/v2/team/app/manifests/${m.digest}`, m.mediaType);
      blobs.push(manifest.config, ...manifest.layers);
    }
    const big = blobs.reduce((a, b) => (b.size > a.size ? b : a));
    expect(big.size).toBeGreaterThan(2_000_000); // larger than the socket buffers: a cut-off GET really stops midway

    const requests: Promise<unknown>[] = [];
    const check = (p: Promise<{ status: number; body: Buffer }>, status: number, length?: number) =>
      requests.push(p.then((r) => {
        expect(r.status).toBe(status);
        if (length !== undefined) expect(r.body.length).toBe(length);
      }));
    for (let round = 0; round < 5; round++) {
      for (const b of blobs) {
        check(rawRequest(app.url, `/v2/team/app/blobs/${b.digest}`), 200, b.size);
        check(rawRequest(app.url, `/v2/team/app/blobs/${b.digest}`, { method: 'HEAD' }), 200, 0);
        check(rawRequest(app.url, `/v2/team/app/blobs/${b.digest}`, { headers: { range: 'bytes=0-99' } }), 206, Math.min(100, b.size));
        check(rawRequest(app.url, `/v2/team/app/blobs/${b.digest}`, { headers: { range: 'bytes=0-9,20-29' } }), 200, b.size);
        check(rawRequest(app.url, `/v2/team/app/blobs/${b.digest}`, { headers: { 'if-none-match': `"${b.digest}"` } }), 304, 0);
      }
      for (const m of manifests) {
        check(rawRequest(app.url, `/v2/team/app/manifests/${m.digest}`, { headers: { accept: m.mediaType } }), 200, m.size);
        check(rawRequest(app.url, `/v2/team/app/manifests/${m.digest}`, { method: 'HEAD', headers: { accept: m.mediaType } }), 200, 0);
      }
      for (let i = 0; i < 8; i++) {
        requests.push(rawRequest(app.url, `/v2/team/app/blobs/${big.digest}`, { stopAfter: 64 * 1024 }).then((r) => expect(r.body.length).toBeLessThan(big.size)));
        requests.push(rawRequest(app.url, `/v2/team/app/blobs/${big.digest}`, { headers: { range: 'bytes=1000-' }, stopAfter: 1 }));
      }
      await Promise.all(requests.splice(0));
    }

    const after = await settledFds(baseline.length);
    expect(blobFiles(after)).toEqual([]);
    expect(after.length, `descriptors before: ${baseline.join(' ')}\nafter: ${after.join(' ')}`).toBe(baseline.length);
  }, 180_000);
});
