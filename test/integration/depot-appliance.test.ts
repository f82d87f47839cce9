/**
 * The appliance's `--depot`: a real docker-registry behind the counting proxy. The appliance takes a release
 * through the import pipeline (source `depot`), checks the signature before any blob, fetches only what it lacks,
 * pushes its signed receipt to REPO/sites/SITE:latest, refuses a replayed older release and a tampered blob
 * (the bundle in force stays), reports a release that expires while the depot is frozen on it, and backs off on
 * 503s and wrong credentials without stopping.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicPart } from '../../keys/key-file.js';
import { verifyReceipt } from '../../keys/receipt.js';
import { api, makeSite, type Site, start } from '../helpers/appliance-fixture.js';
import { cli } from '../helpers/cli.js';
import { run } from '../helpers/exec.js';
import { tagLayout, writeImage, writeLayer } from '../helpers/images.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';
import { type CountingProxy, type LoggedRequest, startCountingProxy } from './depot-proxy.js';
import { depotView, pushTo, until } from './depot-site-helpers.js';
import { connectDepot } from '../../src/depot/connect.js';
import { parseDepotRef } from '../../src/depot/layout.js';
import { type ReleasePlan, signPlan, writePlan } from '../../src/depot/plan.js';

let registry: TestRegistry;
let proxy: CountingProxy;
let site: Site;
const HOUR = 3600_000;
const MiB = 1024 * 1024;
type App = Awaited<ReturnType<typeof start>>;
const apps: App[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startCountingProxy(registry.host);
  site = await makeSite();
}, 60_000);

afterAll(async () => {
  for (const a of apps) await a.close();
  await proxy?.stop();
  await registry?.stop();
  if (site) await rm(site.dir, { recursive: true, force: true });
});

async function follow(repo: string, extra: Parameters<typeof start>[1] = {}): Promise<App> {
  const app = await start(site, { channel: 'stable', depot: { url: `oci://${proxy.host}/${repo}`, intervalMs: HOUR, reportIntervalMs: HOUR }, ...extra });
  apps.push(app);
  await depotView(app); // the first poll runs at start
  return app;
}

const blobGets = (log: LoggedRequest[], repo: string) => log.filter((r) => r.method === 'GET' && r.url.startsWith(`/v2/${repo}/blobs/sha256:`)).map((r) => r.url.slice(`/v2/${repo}/blobs/`.length));
const running = (app: App) => app.ctx.depot && (app.ctx.depot as unknown as { poller: { pollNow(): Promise<void> } }).poller;
async function poll(app: App): Promise<void> {
  await running(app)?.pollNow();
  await app.imports.idle();
}

describe('appliance --depot', () => {
  let app: App;
  const repo = 'fleet/site';
  let planBlobs1: string[] = [];
  let r1 = '';

  it('takes the channel release through the import pipeline: signature before any blob, every blob once, source depot', async () => {
    app = await follow(repo);
    expect(await until('the first poll', () => depotView(app).lastError?.code)).toBe('MANIFEST_UNKNOWN'); // nothing pushed yet: said, not fatal
    r1 = await site.bundle({ sequence: 1 });
    const pushed = await pushTo(r1, `oci://${registry.host}/${repo}`);
    const from = proxy.log.length;
    await poll(app);
    const view = depotView(app);
    expect(view.lastError).toBeNull();
    expect(view.lastRelease).toMatchObject({ root: pushed.root, sequence: 1, state: 'applied', savedBytes: 0 });
    expect(view.lastRelease?.fetchedBytes).toBe(view.lastRelease?.missingBytes);
    const status = await api<{ channels: { sequence: number; rootDigest: string }[]; depot: { lastContact: string } }>(app.url, app.token, '/api/v1/status');
    expect(status.body.channels[0]).toMatchObject({ sequence: 1, rootDigest: pushed.root });
    expect(status.body.depot.lastContact).toBeTruthy();
    const imp = await api<{ source: string; state: string }>(app.url, app.token, `/api/v1/imports/${view.lastRelease?.importId ?? ''}`);
    expect(imp.body).toMatchObject({ source: 'depot', state: 'applied' });

    const log = proxy.log.slice(from);
    const referrers = log.findIndex((r) => r.url.includes(`/manifests/sha256-${pushed.root.slice(7)}`));
    const layers = log.findIndex((r, i) => i > referrers && r.method === 'GET' && r.url.includes('/blobs/') && r.responseBytes > 4096);
    expect(referrers).toBeGreaterThanOrEqual(0);
    expect(layers).toBeGreaterThan(referrers);
    planBlobs1 = blobGets(log, repo);
    expect(new Set(planBlobs1).size).toBe(planBlobs1.length); // each blob asked for once
    // the pipeline stored them: the appliance serves the image to skopeo
    await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${app.url.replace('http://', '')}/team/app:1.0`]);
  });

  it('pushes its signed receipt to REPO/sites/SITE:latest after the apply (contract B)', async () => {
    const keyid = app.ctx.siteKey.keyid;
    const ref = `${registry.host}/${repo}/sites/${keyid}:latest`;
    type Pushed = { artifactType: string; config: { mediaType: string; size: number }; layers: { mediaType: string; digest: string; data?: string }[]; annotations: Record<string, string> };
    let manifest: Pushed | undefined;
    for (let i = 0; i < 100 && !manifest; i++) {
      // the receipt pushed at start lists no channel; the one pushed after the apply does
      const m = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`])) as Pushed;
      const text = await (await fetch(`http://${registry.host}/v2/${repo}/sites/${keyid}/blobs/${m.layers[0]?.digest ?? ''}`)).text();
      if (verifyReceipt(text, [publicPart(app.ctx.siteKey)], 'receipt').receipt.channels.length) manifest = m;
      else await new Promise((r) => setTimeout(r, 50));
    }
    if (!manifest) throw new Error('no receipt with the applied release was pushed');
    expect(manifest.artifactType).toBe('application/vnd.airlock.receipt.v1+json');
    expect(manifest.config).toMatchObject({ mediaType: 'application/vnd.oci.empty.v1+json', size: 2 });
    expect(manifest.layers).toHaveLength(1);
    expect(manifest.layers[0]?.mediaType).toBe('application/vnd.airlock.receipt.v1+json');
    const res = await fetch(`http://${registry.host}/v2/${repo}/sites/${keyid}/blobs/${manifest.layers[0]?.digest ?? ''}`);
    const text = await res.text();
    // the same bytes inline in the layer descriptor (OCI 1.1 `data`): headquarters reads a site with one GET
    expect(Buffer.from(manifest.layers[0]?.data ?? '', 'base64').toString('utf8')).toBe(text);
    const { receipt } = verifyReceipt(text, [publicPart(app.ctx.siteKey)], 'the pushed receipt');
    expect(receipt.appliance).toBe(keyid);
    expect(receipt.channels[0]?.sequence).toBe(1);
    expect(manifest.annotations['org.opencontainers.image.created']).toBe(receipt.created);
  });

  it('an idle poll is two HEAD requests; a new release moves only the blobs this site lacks', async () => {
    let from = proxy.log.length;
    await poll(app);
    // the plan tag (none: the channel is followed by its tag), then the channel tag
    expect(proxy.log.slice(from).map((r) => `${r.method} ${r.url}`)).toEqual([`HEAD /v2/${repo}/manifests/stable.plan`, `HEAD /v2/${repo}/manifests/stable`]);

    const r2 = await site.bundle({ sequence: 2, images: ['team/app:1.0', 'team/worker:1.0', 'team/worker:2.0'] });
    await pushTo(r2, `oci://${registry.host}/${repo}`);
    from = proxy.log.length;
    await poll(app);
    const view = depotView(app);
    expect(view.lastRelease).toMatchObject({ sequence: 2, state: 'applied' });
    expect(view.lastRelease?.savedBytes).toBeGreaterThan(0);
    const fetched = blobGets(proxy.log.slice(from), repo).filter((d) => !planBlobs1.includes(d));
    const again = blobGets(proxy.log.slice(from), repo).filter((d) => planBlobs1.includes(d));
    // blobs of release 1 asked for again are only small signature blobs, never a held layer
    const large = proxy.log.slice(from).filter((r) => r.method === 'GET' && r.url.includes('/blobs/') && again.some((d) => r.url.endsWith(d)) && r.responseBytes > 4096);
    expect(large).toEqual([]);
    expect(fetched.length).toBeGreaterThan(0);
    expect(view.lastRelease?.fetchedBytes).toBe(view.lastRelease?.missingBytes);
    expect(view.lastRelease?.missingBytes).toBeLessThan(view.lastRelease?.savedBytes ?? 0);
  });

  it('refuses a depot replaying an older signed release: no blob fetched, the bundle in force stays', async () => {
    await pushTo(r1, `oci://${registry.host}/${repo}`); // the tag moves back to release 1
    const from = proxy.log.length;
    await poll(app);
    expect(depotView(app).lastError?.code).toBe('ROLLBACK');
    expect(app.ctx.state.lastAccepted('stable')?.sequence).toBe(2);
    expect(proxy.log.slice(from).filter((r) => r.url.includes('/blobs/') && r.responseBytes > 4096)).toEqual([]);
    expect(proxy.log.slice(from).some((r) => r.url.includes('/blobs/') && !r.url.includes('/uploads/'))).toBe(true); // the signature was read
    const again = proxy.log.length;
    await poll(app); // refused once: not examined again while the tag stays
    expect(proxy.log.slice(again).map((r) => r.method)).toEqual(['HEAD', 'HEAD']);
  });

  it('rejects a blob tampered with in the registry storage: nothing applied, bundle in force stays, the partial blob dropped', async () => {
    await tagLayout(site.layout, await writeImage(site.layout, [await writeLayer(site.layout, 50_000)]), 'team/extra:1.0');
    const r3 = await site.bundle({ sequence: 3, images: ['team/app:1.0', 'team/worker:1.0', 'team/worker:2.0', 'team/extra:1.0'] });
    await pushTo(r3, `oci://${registry.host}/${repo}`);
    const index = JSON.parse(await readFile(join(site.layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const extra = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'team/extra:1.0');
    const manifest = JSON.parse(await readFile(join(site.layout, 'blobs/sha256', (extra?.digest ?? '').slice(7)), 'utf8')) as { layers: { digest: string }[] };
    const layer = manifest.layers[0]?.digest.slice(7) ?? '';
    const data = join(registry.storage, 'docker/registry/v2/blobs/sha256', layer.slice(0, 2), layer, 'data');
    const bytes = await readFile(data);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(data, bytes);
    await poll(app);
    const view = depotView(app);
    expect(view.lastRelease).toMatchObject({ sequence: 3, state: 'failed' });
    expect(view.lastError?.code).toBe('DIGEST_MISMATCH');
    expect(app.ctx.state.lastAccepted('stable')?.sequence).toBe(2);
    expect(await readdir(join(app.ctx.cas.dir, '..', 'depot', 'ingest'))).not.toContain(layer);
    expect(app.ctx.state.isPublished(`sha256:${layer}`)).toBe(false);
    const reason = createHash('sha256').update(bytes).digest('hex');
    expect(view.lastError?.message).toContain(reason);
    // nothing of the tampered blob in the store: the ingest file was not taken (ADR 016, one write per blob)
    await expect(stat(app.ctx.cas.blobPath(`sha256:${layer}`))).rejects.toThrow(/ENOENT/);
  });

  it('writes each fetched blob once: the store takes the (resumed) ingest file by rename, nothing copied', async () => {
    const big = await writeLayer(site.layout, 8 * MiB);
    await tagLayout(site.layout, await writeImage(site.layout, [big]), 'team/big:1.0');
    const r4 = await site.bundle({ sequence: 4, images: ['team/app:1.0', 'team/worker:1.0', 'team/worker:2.0', 'team/big:1.0'] });
    await pushTo(r4, `oci://${registry.host}/${repo}`);
    // a partial ingest file from an earlier attempt: the first 3 MiB of the layer
    const ingestDir = join(app.ctx.cas.dir, '..', 'depot', 'ingest');
    const partial = join(ingestDir, big.desc.digest.slice(7));
    const layerBytes = await readFile(join(site.layout, 'blobs/sha256', big.desc.digest.slice(7)));
    await writeFile(partial, layerBytes.subarray(0, 3 * MiB));
    const inode = (await stat(partial)).ino;
    const written = async () => Number(/write_bytes: (\d+)/.exec(await readFile('/proc/self/io', 'utf8'))?.[1]);
    const before = await written();
    await poll(app);
    const writtenBytes = (await written()) - before;
    const view = depotView(app);
    expect(view.lastRelease).toMatchObject({ sequence: 4, state: 'applied', resumedBytes: 3 * MiB, missingBytes: big.desc.size });
    expect(view.lastRelease?.fetchedBytes).toBe(big.desc.size - 3 * MiB); // resumed with Range from the file's end
    // the store's blob is the ingest file itself (same inode), and no ingest file is left
    expect((await stat(app.ctx.cas.blobPath(big.desc.digest))).ino).toBe(inode);
    expect(await readdir(ingestDir)).toEqual([]);
    // what this process wrote during the pull: the fetched bytes once (plus the state database), not twice
    const fresh = big.desc.size - 3 * MiB;
    expect(writtenBytes).toBeGreaterThanOrEqual(fresh);
    expect(writtenBytes).toBeLessThan(fresh + 2 * MiB);
    // the registry serves it whole (curl, as a user would)
    const out = join(site.dir, 'big-layer');
    await run('curl', ['-sSf', '-o', out, `${app.url}/v2/team/big/blobs/${big.desc.digest}`]);
    expect(createHash('sha256').update(await readFile(out)).digest('hex')).toBe(big.desc.digest.slice(7));
  });

  it('a depot that sends a blob again from byte 0 (200 to a Range): the bytes held are not written again, the store gets exactly the verified bytes', async () => {
    const flaky = await writeLayer(site.layout, 3 * MiB);
    await tagLayout(site.layout, await writeImage(site.layout, [flaky]), 'team/flaky:1.0');
    const r5 = await site.bundle({ sequence: 5, images: ['team/app:1.0', 'team/flaky:1.0'] });
    await pushTo(r5, `oci://${registry.host}/${repo}`);
    const hex = flaky.desc.digest.slice(7);
    const data = join(registry.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    let requests = 0;
    // the first response is cut after 1 MiB; the depot's copy changes at byte 100 before the second, answered 200
    // (the proxy asks cutAfter, then dropRange, for each request)
    proxy.cutAfter = (method, url) => (method === 'GET' && url.endsWith(flaky.desc.digest) && ++requests === 1 ? MiB : undefined);
    proxy.dropRange = (method, url) => {
      if (method !== 'GET' || !url.endsWith(flaky.desc.digest)) return false;
      if (requests === 2) {
        const bytes = readFileSync(data);
        bytes[100] = (bytes[100] ?? 0) ^ 0xff;
        writeFileSync(data, bytes);
      }
      return true;
    };
    try {
      await poll(app);
    } finally {
      proxy.cutAfter = undefined;
      proxy.dropRange = undefined;
    }
    const view = depotView(app);
    expect(requests).toBe(2);
    // the bytes below the ingest file's end were handed on (and hashed) from the first response, and are the file's:
    // the depot's changed copy of them is skipped, not written over the file the store then takes
    expect(view.lastRelease).toMatchObject({ sequence: 5, state: 'applied' });
    expect(app.ctx.state.lastAccepted('stable')?.sequence).toBe(5);
    expect(createHash('sha256').update(await readFile(app.ctx.cas.blobPath(flaky.desc.digest))).digest('hex')).toBe(hex);
    expect(await readdir(join(app.ctx.cas.dir, '..', 'depot', 'ingest'))).toEqual([]);
  });
});

describe('appliance serve --depot flags', () => {
  it('refuses --depot without --channel, a tag in --depot, a bad rate and depot flags without --depot, before writing anything', async () => {
    const data = join(site.dir, 'cli-data');
    const base = ['appliance', 'serve', '--data', data, '--trust', site.trustPath, '--listen', '127.0.0.1:0'];
    const cases: [string[], RegExp][] = [
      [['--depot', `oci://${registry.host}/fleet/x`], /--depot needs --channel/],
      [['--depot', `oci://${registry.host}/fleet/x:stable`, '--channel', 'stable'], /names the repository only/],
      [['--depot', `oci://${registry.host}/fleet/x`, '--channel', 'stable', '--depot-rate', 'fast'], /--depot-rate/],
      [['--depot-interval', '1m'], /--depot-interval applies to --depot/],
      [['--depot', `oci://${registry.host}/fleet/x`, '--channel', 'stable', '--depot-plain-http', '--depot-insecure'], /does not go with/],
    ];
    for (const [args, message] of cases) {
      const r = await cli([...base, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    await expect(readdir(data)).rejects.toThrow(/ENOENT/);
  });
});

describe('release plans (contract C)', () => {
  it('follows the wave its labels match, not the channel tag; refuses a plan older than one accepted; takes nothing outside a wave', async () => {
    const repo = 'fleet/plan';
    const depot = `oci://${registry.host}/${repo}`;
    const a = await pushTo(await site.bundle({ sequence: 11, name: 'plan-11' }), depot);
    const b = await pushTo(await site.bundle({ sequence: 12, name: 'plan-12' }), depot); // the channel tag names b
    const { repo: planRepo, close } = await connectDepot({ ref: parseDepotRef(depot) });
    const plan = (serial: number, stores: { root: string; sequence: number } | null): ReleasePlan => ({
      type: 'airlock-release-plan',
      channel: 'stable',
      created: new Date().toISOString(),
      serial,
      waves: [
        { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, root: b.root, sequence: 12 },
        { name: 'stores', selector: { matchLabels: { ring: 'store' } }, root: stores?.root ?? null, sequence: stores?.sequence ?? null },
      ],
    });
    const publish = (p: ReleasePlan) => writePlan(planRepo, 'stable', signPlan(p, site.trust.release));
    try {
      await publish(plan(1, { root: a.root, sequence: 11 }));
      const app = await follow(repo);
      app.ctx.site = { name: 'store-7', labels: { ring: 'store' } }; // as --site gives them
      await poll(app);
      await poll(app);
      expect(app.ctx.state.lastAccepted('stable')?.rootDigest).toBe(a.root);
      expect(depotView(app).target).toMatchObject({ root: a.root, wave: 'stores', planSerial: 1 });

      await publish(plan(2, { root: b.root, sequence: 12 }));
      await poll(app);
      expect(app.ctx.state.lastAccepted('stable')?.rootDigest).toBe(b.root);
      const state = JSON.parse(await readFile(join(app.ctx.cas.dir, '..', 'depot', 'state.json'), 'utf8')) as { planSerial: number };
      expect(state.planSerial).toBe(2);

      await publish(plan(1, { root: a.root, sequence: 11 })); // a replayed older plan
      await poll(app);
      expect(depotView(app).lastError).toMatchObject({ code: 'ROLLBACK' });
      expect(depotView(app).lastError?.message).toMatch(/serial 1 is older than serial 2/);
      expect(app.ctx.state.lastAccepted('stable')?.rootDigest).toBe(b.root);

      await publish(plan(3, null)); // the stores wave has nothing to take
      await poll(app);
      expect(depotView(app).target).toMatchObject({ reference: null });
      expect(depotView(app).target?.reason).toMatch(/no wave/);
      expect(app.ctx.state.lastAccepted('stable')?.rootDigest).toBe(b.root);
    } finally {
      close();
    }
  });
});

describe('a depot frozen, failing or refusing access', () => {
  it('reports the release in force as expired once it is, while the depot still serves it', async () => {
    let clock = new Date();
    const app = await follow('fleet/frozen', { now: () => clock });
    const r = await site.bundle({ sequence: 1, name: 'expiring', expires: '1h', now: clock });
    await pushTo(r, `oci://${registry.host}/fleet/frozen`);
    await poll(app);
    expect(depotView(app).inForce).toMatchObject({ sequence: 1, expired: false });
    clock = new Date(clock.getTime() + 2 * HOUR);
    await poll(app);
    expect(depotView(app).lastError).toBeNull(); // the depot answers, with the same old release
    expect(depotView(app).inForce).toMatchObject({ sequence: 1, expired: true });
    const page = await fetch(`${app.url}/ui/`, { headers: { authorization: `Bearer ${app.token}` } });
    expect(await page.text()).toMatch(/expired/);
  });

  it('backs off on 503s, says so in status, and recovers', async () => {
    await pushTo(await site.bundle({ sequence: 1, name: 'flaky' }), `oci://${registry.host}/fleet/flaky`);
    const app = await follow('fleet/flaky');
    await poll(app); // the poll at start has taken the release
    proxy.failWith = (method, url) => (url.startsWith('/v2/fleet/flaky/manifests/') ? 503 : undefined);
    try {
      await poll(app);
      const first = depotView(app);
      expect(first.lastError?.message).toContain('503');
      expect(first.consecutiveFailures).toBe(1);
      const delay1 = first.nextDelaySeconds ?? 0;
      await poll(app);
      await poll(app);
      const third = depotView(app);
      expect(third.consecutiveFailures).toBe(3);
      const delay3 = third.nextDelaySeconds ?? 0;
      // interval 1 h: back-off from 30 s, doubling, 50–100% jitter: 15–30 s after one failure, 60–120 s after three
      expect(delay1).toBeGreaterThanOrEqual(15);
      expect(delay1).toBeLessThanOrEqual(30);
      expect(delay3).toBeGreaterThanOrEqual(60);
      expect(delay3).toBeLessThanOrEqual(120);
    } finally {
      proxy.failWith = undefined;
    }
    await poll(app);
    expect(depotView(app)).toMatchObject({ consecutiveFailures: 0, lastError: null });
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  it('wrong credentials: a clear error in status, backing off, the appliance serving on', async () => {
    const locked = await startRegistry({ user: { name: 'hq', password: 'right' } });
    try {
      const app = await start(site, {
        channel: 'stable',
        depot: { url: `oci://${locked.host}/fleet/site`, intervalMs: HOUR, reportIntervalMs: HOUR, credentials: () => ({ username: 'hq', password: 'wrong' }) },
      });
      apps.push(app);
      await until('the first poll', () => depotView(app).lastError);
      await poll(app);
      const view = depotView(app);
      expect(view.lastError?.code).toBe('REGISTRY_UNAUTHORIZED');
      expect(view.lastError?.message).toMatch(/docker login/);
      expect(view.consecutiveFailures).toBeGreaterThanOrEqual(2);
      expect(view.lastContact).toBeNull();
      expect(await until('the receipt push error', () => depotView(app).report.lastError?.code)).toBe('REGISTRY_UNAUTHORIZED');
      const status = await api<{ depot: { lastError: { code: string }; nextPoll: string } }>(app.url, app.token, '/api/v1/status');
      expect(status.body.depot.lastError.code).toBe('REGISTRY_UNAUTHORIZED');
      expect(Date.parse(status.body.depot.nextPoll)).toBeGreaterThan(Date.now());
      const page = await (await fetch(`${app.url}/ui/`, { headers: { authorization: `Bearer ${app.token}` } })).text();
      expect(page).toContain('id="depot"');
      expect(page).toMatch(/Last contact[\s\S]*never[\s\S]*Last error[\s\S]*REGISTRY_UNAUTHORIZED[\s\S]*Next poll/);
      expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    } finally {
      await locked.stop();
    }
  });
});
