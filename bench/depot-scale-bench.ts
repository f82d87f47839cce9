/**
 * The depot at scale, on one machine: one docker-registry as the depot, N appliances (default 50, in this process,
 * each with its own data directory) following it with a short poll interval. Measures, at a counting proxy in front
 * of the registry (socket bytes, headers included):
 * - idle polls: requests and bytes per poll per site;
 * - receipt pushes: requests and bytes per push;
 * - a new release taken by all sites at once: time until every site applied it, blob bytes served against
 *   N × the delta, failures.
 * Then extrapolates bytes per idle hour per site at a 5-minute poll and a 10-minute report.
 * Usage: node dist/bench/depot-scale-bench.js [--sites 50] [--interval 2] [--idle 20]   (seconds)
 */
import { type Server, createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { scanBundle } from '../src/depot/bundle-source.js';
import { connectDepot } from '../src/depot/connect.js';
import { parseDepotRef } from '../src/depot/layout.js';
import { pushBundle } from '../src/depot/push.js';
import { unverifiedPartsIndex } from '../keys/parts.js';
import { unverifiedStatement } from '../keys/statement-verifier.js';
import type { DepotView } from '../appliance/depot/start.js';
import { makeSite, quietLog } from '../test/helpers/appliance-fixture.js';
import { tagLayout, writeImage, writeLayer } from '../test/helpers/images.js';
import { startRegistry } from '../test/helpers/registry.js';
import { startAppliance, type RunningAppliance } from '../appliance/server.js';

const { values } = parseArgs({ options: { sites: { type: 'string', default: '50' }, interval: { type: 'string', default: '2' }, idle: { type: 'string', default: '20' } } });
const SITES = Number(values.sites);
const INTERVAL_MS = Number(values.interval) * 1000;
const IDLE_MS = Number(values.idle) * 1000;

interface Counter {
  host: string;
  requests: { method: string; url: string }[];
  bytes(): number;
  stop(): Promise<void>;
}

/** A reverse proxy counting requests and socket bytes both ways (headers included). */
async function countingProxy(upstream: string): Promise<Counter> {
  const [upHost = '127.0.0.1', upPort = '80'] = upstream.split(':');
  const sockets = new Set<Socket>();
  let closedBytes = 0;
  const requests: { method: string; url: string }[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    const up = request({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => {
      closedBytes += s.bytesRead + s.bytesWritten;
      sockets.delete(s);
    });
  });
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    bytes: () => closedBytes + [...sockets].reduce((n, s) => n + s.bytesRead + s.bytesWritten, 0),
    stop: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

async function push(file: string, depot: string): Promise<void> {
  const bundle = await scanBundle({ path: file, verifyStatement: unverifiedStatement, readIndex: unverifiedPartsIndex });
  const { repo, close } = await connectDepot({ ref: parseDepotRef(depot) });
  try {
    await pushBundle({ bundle, repo });
  } finally {
    close();
  }
}

const view = (a: RunningAppliance) => a.ctx.depot?.view() as DepotView;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

async function main(): Promise<void> {
  const registry = await startRegistry();
  const proxy = await countingProxy(registry.host);
  const site = await makeSite();
  const apps: RunningAppliance[] = [];
  const REPO = 'fleet/scale';
  try {
    const r1 = await site.bundle({ sequence: 1 });
    await push(r1, `oci://${registry.host}/${REPO}`);
    for (let i = 0; i < SITES; i++) {
      apps.push(
        await startAppliance({
          dataDir: join(site.dir, `site-${i}`),
          trust: site.trust.trust,
          port: 0,
          channel: 'stable',
          log: quietLog,
          depot: { url: `oci://${proxy.host}/${REPO}`, intervalMs: INTERVAL_MS, reportIntervalMs: 3600_000 },
        }),
      );
    }
    process.stderr.write(`${SITES} appliances started\n`);
    await until('every site applied release 1', () => apps.every((a) => a.ctx.state.lastAccepted('stable')?.sequence === 1), 600_000);
    await until('every site pushed its receipt', () => apps.every((a) => view(a).report.lastPush !== null), 120_000);
    await sleep(INTERVAL_MS * 2); // receipts after the apply settle

    // Idle: polls only.
    const pollCount: number[] = apps.map(() => 0);
    const seen = apps.map((a) => view(a).lastPoll);
    const ticker = setInterval(() => apps.forEach((a, i) => {
      const p = view(a).lastPoll;
      if (p !== seen[i]) {
        seen[i] = p;
        pollCount[i] = (pollCount[i] ?? 0) + 1;
      }
    }), 20);
    const req0 = proxy.requests.length;
    const bytes0 = proxy.bytes();
    await sleep(IDLE_MS);
    clearInterval(ticker);
    const idleRequests = proxy.requests.length - req0;
    const idleBytes = proxy.bytes() - bytes0;
    const totalPolls = pollCount.reduce((a, b) => a + b, 0);
    const idleKinds = [...new Set(proxy.requests.slice(req0).map((r) => `${r.method} ${r.url.replace(/[^/]+$/, (t) => (t.startsWith('sha256') ? 'DIGEST' : t))}`))];

    // One receipt push per site, measured.
    const req1 = proxy.requests.length;
    const bytes1 = proxy.bytes();
    const pushedBefore = apps.map((a) => view(a).report.lastPush);
    for (const a of apps) (a.ctx.depot as unknown as { reporter: { kick(): void } }).reporter.kick();
    await until('every receipt pushed again', () => apps.every((a, i) => view(a).report.lastPush !== pushedBefore[i]), 120_000);
    const receiptRequests = proxy.requests.slice(req1).filter((r) => r.url.includes('/sites/')).length;
    const receiptBytes = proxy.bytes() - bytes1; // includes the few polls that happened meanwhile
    const receiptPolls = proxy.requests.slice(req1).filter((r) => !r.url.includes('/sites/')).length;

    // A new release with one new layer, taken by every site at once.
    const layer = await writeLayer(site.layout, 256 * 1024);
    await tagLayout(site.layout, await writeImage(site.layout, [layer]), 'team/new:1.0');
    const r2 = await site.bundle({ sequence: 2, images: ['team/app:1.0', 'team/worker:1.0', 'team/new:1.0'] });
    const req2 = proxy.requests.length;
    const bytes2 = proxy.bytes();
    await push(r2, `oci://${registry.host}/${REPO}`);
    const t0 = Date.now();
    await until('every site applied release 2', () => apps.every((a) => a.ctx.state.lastAccepted('stable')?.sequence === 2), 600_000);
    const rolloutMs = Date.now() - t0;
    await Promise.all(apps.map((a) => a.imports.idle()));
    await sleep(100); // the poller records the outcome after the import settles
    // every import of the rollout that failed, at any site (a site that failed and retried counts each time)
    const failed = apps.reduce((n, a) => n + a.ctx.state.listImports(10).filter((r) => r.state === 'failed' && Date.parse(r.startedAt) >= t0 - 1000).length, 0);
    const missing = apps.reduce((n, a) => n + (view(a).lastRelease?.missingBytes ?? 0), 0);
    const fetched = apps.reduce((n, a) => n + (view(a).lastRelease?.fetchedBytes ?? 0), 0);
    const rolloutBytes = proxy.bytes() - bytes2;
    const rolloutRequests = proxy.requests.length - req2;

    const perPollRequests = idleRequests / Math.max(1, totalPolls);
    const perPollBytes = idleBytes / Math.max(1, totalPolls);
    const perReceiptBytes = (receiptBytes - receiptPolls * perPollBytes / Math.max(1, perPollRequests)) / SITES;
    const hourly = 12 * perPollBytes + 6 * perReceiptBytes;
    const result = {
      sites: SITES,
      intervalSeconds: INTERVAL_MS / 1000,
      idle: { seconds: IDLE_MS / 1000, polls: totalPolls, requests: idleRequests, requestsPerPoll: +perPollRequests.toFixed(2), bytesPerPoll: Math.round(perPollBytes), kinds: idleKinds },
      receipt: { requestsPerPush: +(receiptRequests / SITES).toFixed(2), bytesPerPush: Math.round(perReceiptBytes) },
      idleHourPerSite: { pollEvery: '5m', reportEvery: '10m', bytes: Math.round(hourly) },
      rollout: { deltaBytesPerSite: Math.round(missing / SITES), sitesApplied: apps.filter((a) => a.ctx.state.lastAccepted('stable')?.sequence === 2).length, failedImports: failed, seconds: +(rolloutMs / 1000).toFixed(1), blobBytesFetched: fetched, expected: missing, wireBytes: rolloutBytes, requests: rolloutRequests, wireOverDelta: +(rolloutBytes / Math.max(1, missing)).toFixed(2) },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    for (const a of apps) await a.close().catch(() => undefined);
    await proxy.stop();
    await registry.stop();
    await rm(site.dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
