/**
 * The appliance's `--depot` against skopeo, in one run, on the same images in the same docker-registry:
 * - a full release (≥ 1 GiB of random, incompressible layers in three images sharing a base layer) taken by a fresh
 *   appliance started with `--depot`, from the spawn to the import applied (the import record's `finishedAt`),
 *   against `skopeo copy --all docker://REG/REPO@DIGEST oci:DIR` of the same image manifests, in ABBA pairs;
 *   the appliance's peak RSS (VmHWM) during each pull;
 * - a one-layer delta: a running appliance that applied release 1 takes release 2 (one layer replaced by a new one
 *   of `--delta-mib`), every byte between it and the registry counted by a TCP proxy (both directions, HTTP headers
 *   included), against the size of that layer.
 * Usage: node dist/bench/depot-bench.js [--mib 1024] [--delta-mib 64] [--runs 3] [--out bench/RESULTS.md]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BINARY } from '../test/helpers/cli.js';
import { exec, run } from '../test/helpers/exec.js';
import { skopeoPush, tagLayout } from '../test/helpers/images.js';
import { freePort, startRegistry } from '../test/helpers/registry.js';
import { type Measurement, loadCell, measure, median, mib, paired, randomLayer, ratioCell, stopWithPeakRss } from './lib.js';
import { updateResults } from './results.js';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, 'delta-mib': { type: 'string', default: '64' }, runs: { type: 'string', default: '3' }, out: { type: 'string', default: 'bench/RESULTS.md' } } });
const MiB = 1024 * 1024;
const total = Number(values.mib) * MiB;
const deltaSize = Number(values['delta-mib']) * MiB;
const runs = Number(values.runs);
const REPO = 'depot/site';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

async function writeJsonBlob(layout: string, value: unknown, mediaType: string) {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { mediaType, digest, size: bytes.length };
}

async function writeImage(layout: string, layers: Awaited<ReturnType<typeof randomLayer>>[]) {
  const config = await writeJsonBlob(layout, { os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }, 'application/vnd.oci.image.config.v1+json');
  return writeJsonBlob(layout, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers }, 'application/vnd.oci.image.manifest.v1+json');
}

/** A TCP proxy counting every byte both ways (HTTP headers included): what crosses the link to the depot. */
async function tcpCounter(upstream: string): Promise<{ host: string; bytes(): number; stop(): Promise<void> }> {
  const [upHost = '127.0.0.1', upPort = '80'] = upstream.split(':');
  let bytes = 0;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const up = connect(Number(upPort), upHost);
    for (const s of [client, up]) {
      open.add(s);
      s.on('data', (d: Buffer) => (bytes += d.length));
      s.on('error', () => (s === client ? up : client).destroy());
      s.on('close', () => {
        open.delete(s);
        (s === client ? up : client).end();
      });
    }
    client.pipe(up);
    up.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  return {
    host: `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    bytes: () => bytes,
    stop: () => new Promise<void>((r) => {
      for (const s of open) s.destroy();
      server.close(() => r());
    }),
  };
}

interface DepotView {
  lastRelease: { importId: string; sequence: number; state: string; missingBytes: number; fetchedBytes: number; savedBytes: number; error?: unknown } | null;
  lastError: unknown;
  report: { lastPush: string | null };
}

interface Running {
  child: ChildProcess;
  url: string;
  token: string;
  spawnedAt: number;
  listeningAt: number;
  api<T>(path: string): Promise<T>;
  depot(): Promise<DepotView>;
  /** Peak RSS (VmHWM), then SIGTERM. */
  stop(): Promise<number>;
  /** Bytes the process caused to be written to storage so far (/proc/PID/io write_bytes). */
  written(): Promise<number>;
}

/** `airlock appliance serve --depot` as a user runs it (bin/airlock.js through its shebang), on a fresh data dir. */
async function serve(dataDir: string, trustPath: string, depot: string, interval = '1h'): Promise<Running> {
  const port = await freePort();
  const spawnedAt = Date.now();
  const child = spawn(BINARY, ['appliance', 'serve', '--data', dataDir, '--trust', trustPath, '--listen', `127.0.0.1:${port}`, '--channel', 'stable', '--depot', depot, '--depot-interval', interval, '--report-interval', '1h'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('appliance listening')) {
    if (child.exitCode !== null) throw new Error(`appliance exited: ${out}`);
    await sleep(20);
  }
  const listeningAt = Date.now();
  const token = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
  const url = `http://127.0.0.1:${port}`;
  const api = async <T>(path: string): Promise<T> => (await (await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } })).json()) as T;
  return {
    child,
    url,
    token,
    spawnedAt,
    listeningAt,
    api,
    depot: async () => (await api<{ depot: DepotView }>('/api/v1/status')).depot,
    written: async () => Number(/write_bytes: (\d+)/.exec(await readFile(`/proc/${child.pid}/io`, 'utf8'))?.[1] ?? 0),
    stop: () => stopWithPeakRss(child),
  };
}

/** Waits until the appliance applied release `sequence` from the depot; its import record. */
async function applied(app: Running, sequence: number): Promise<{ importId: string; startedAt: string; finishedAt: string; view: DepotView }> {
  for (;;) {
    const view = await app.depot();
    const r = view.lastRelease;
    if (r && r.sequence === sequence && r.state === 'applied') {
      const rec = await app.api<{ startedAt: string; finishedAt: string }>(`/api/v1/imports/${r.importId}`);
      return { importId: r.importId, startedAt: rec.startedAt, finishedAt: rec.finishedAt, view };
    }
    if (r && r.sequence === sequence && r.state === 'failed') throw new Error(`the depot release failed: ${JSON.stringify(r)}`);
    await sleep(100);
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'airlock-depot-bench-'));
  const registry = await startRegistry();
  let proxy: Awaited<ReturnType<typeof tcpCounter>> | undefined;
  try {
    // Three images share a base layer (a quarter of the total); each adds two layers of its own. Release 2 replaces
    // img3's last layer with a new one of deltaSize.
    const layout = join(work, 'seed');
    await mkdir(layout, { recursive: true });
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const baseSize = Math.floor(total / 4);
    const ownSize = Math.floor((total - baseSize) / 6);
    log(`seeding ${registry.host} with ${(total / MiB).toFixed(0)} MiB of random layers`);
    const base = await randomLayer(layout, baseSize);
    const images: string[] = [];
    const manifests: string[] = [];
    let last: Awaited<ReturnType<typeof randomLayer>>[] = [];
    for (let i = 1; i <= 3; i++) {
      last = [base, await randomLayer(layout, ownSize), await randomLayer(layout, ownSize)];
      const m = await writeImage(layout, last);
      manifests.push(m.digest);
      await tagLayout(layout, m, `img${i}`);
      await skopeoPush(layout, `img${i}`, `${registry.host}/bench/img${i}:1`);
      images.push(`${registry.host}/bench/img${i}:1`);
    }
    const changed = await randomLayer(layout, deltaSize);
    const img3b = await writeImage(layout, [last[0] as typeof changed, last[1] as typeof changed, changed]);
    await tagLayout(layout, img3b, 'img3b');
    await skopeoPush(layout, 'img3b', `${registry.host}/bench/img3:2`);
    await rm(layout, { recursive: true, force: true });

    const k = (n: string) => join(work, n);
    await run(BINARY, ['keys', 'generate', '--out', k('root')]);
    await run(BINARY, ['keys', 'generate', '--out', k('release')]);
    await run(BINARY, ['trust', 'init', '--root-key', k('root.pub'), '--release-key', k('release.pub'), '--sign', k('root.key'), '--out', k('root.json')]);
    const spec = (name: string, refs: string[]) => `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: ${name}\n  channel: stable\nimages:\n${refs.map((i) => `  - ${i}\n`).join('')}`;
    await writeFile(k('r1.yaml'), spec('depot-bench', images));
    await writeFile(k('r2.yaml'), spec('depot-bench', [images[0] as string, images[1] as string, `${registry.host}/bench/img3:2`]));
    log('bundle create r1, r2; bundle push r1');
    await run(BINARY, ['bundle', 'create', '-f', k('r1.yaml'), '--key', k('release.key'), '--sequence', '1', '-o', k('r1.airlock')]);
    await run(BINARY, ['bundle', 'create', '-f', k('r2.yaml'), '--key', k('release.key'), '--sequence', '2', '-o', k('r2.airlock')]);
    const depot = `oci://${registry.host}/${REPO}`;
    await run(BINARY, ['bundle', 'push', k('r1.airlock'), depot]);
    await rm(k('r1.airlock'));

    // 1. A fresh appliance with --depot vs skopeo copy --all of the same image manifests from the same registry.
    let n = 0;
    const rssAll: number[] = [];
    const oursWritten: number[] = [];
    const peerWritten: number[] = [];
    const peerSync: number[] = [];
    const phases: { total: number; start: number; check: number; importing: number }[] = [];
    const ours = async (): Promise<Measurement> => {
      const dir = k(`appliance-${n++}`);
      const app = await serve(dir, k('root.json'), depot);
      try {
        const done = await applied(app, 1);
        const seconds = (Date.parse(done.finishedAt) - app.spawnedAt) / 1000;
        oursWritten.push(await app.written());
        const importStart = Date.parse(done.startedAt);
        phases.push({ total: seconds, start: (app.listeningAt - app.spawnedAt) / 1000, check: (importStart - app.listeningAt) / 1000, importing: (Date.parse(done.finishedAt) - importStart) / 1000 });
        const rss = await app.stop();
        rssAll.push(rss);
        return { seconds, maxRssKiB: rss };
      } finally {
        if (app.child.exitCode === null) await app.stop();
        await rm(dir, { recursive: true, force: true });
      }
    };
    const peer = async (): Promise<Measurement> => {
      const dir = k('skopeo-oci');
      await rm(dir, { recursive: true, force: true });
      const t0 = process.hrtime.bigint();
      const script = manifests.map((d, i) => `skopeo copy --quiet --all --src-tls-verify=false docker://${registry.host}/${REPO}@${d} oci:${dir}:img${i + 1}`).join(' && ');
      // GNU time's "File system outputs" (512-byte blocks, skopeo included: sh waits for it)
      const res = await exec('/usr/bin/time', ['-v', 'sh', '-c', script]);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (res.code !== 0) throw new Error(`skopeo exited ${res.code}: ${res.stderr.slice(-2000)}`);
      peerWritten.push(512 * Number(/File system outputs: (\d+)/.exec(res.stderr)?.[1] ?? 0));
      // skopeo does not sync; the appliance fsyncs what it stores: the time of the sync right after, apart
      peerSync.push((await measure('sync', [])).seconds);
      await rm(dir, { recursive: true, force: true });
      return { seconds, maxRssKiB: Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(res.stderr)?.[1] ?? 0) };
    };
    log(`${runs} pairs: appliance --depot vs skopeo copy --all`);
    const pull = await paired(runs, ours, peer);
    log(`pull ratios ${pull.ratios.map((r) => r.toFixed(2)).join(' ')}`);
    // The same pairs with the appliance's import alone (started to applied): its process start set apart. Each pair's
    // skopeo time is the pair's appliance time over the pair's ratio.
    const peerSeconds = phases.map((p, i) => p.total / (pull.ratios[i] ?? 1));
    const importRatios = phases.map((p, i) => p.importing / (peerSeconds[i] ?? 1));
    const syncedRatios = phases.map((p, i) => p.total / ((peerSeconds[i] ?? 0) + (peerSync[i] ?? 0)));
    // What the process start is made of: loading the appliance's modules, and of them the cluster client alone.
    const loads: { server: number[]; kube: number[]; bare: number[] } = { server: [], kube: [], bare: [] };
    for (let i = 0; i < 3; i++) {
      loads.bare.push((await measure('node', ['-e', '0'])).seconds);
      loads.server.push((await measure('node', ['--input-type=module', '-e', "await import('./dist/appliance/server.js')"])).seconds);
      loads.kube.push((await measure('node', ['--input-type=module', '-e', "await import('./dist/appliance/reconcile/cluster.js')"])).seconds);
    }

    // 2. The one-layer delta, counted on the wire.
    proxy = await tcpCounter(registry.host);
    const dir = k('appliance-delta');
    // polled every second (there is no "poll now" from outside): the idle polls in the count are measured apart
    const app = await serve(dir, k('root.json'), `oci://${proxy.host}/${REPO}`, '1s');
    let delta;
    try {
      await applied(app, 1);
      await sleep(3000); // the receipt pushed after the apply
      const pushed = (await app.depot()).report.lastPush;
      const idle0 = proxy.bytes();
      await sleep(10_000);
      const idlePerSecond = (proxy.bytes() - idle0) / 10;
      if ((await app.depot()).report.lastPush !== pushed) throw new Error('a receipt was pushed during the idle window');
      const load = loadavg()[0] ?? 0;
      const before = proxy.bytes();
      const t0 = Date.now();
      await run(BINARY, ['bundle', 'push', k('r2.airlock'), depot]); // straight to the registry, not through the proxy
      const done = await applied(app, 2);
      const releaseBytes = proxy.bytes() - before;
      const started = Date.parse(done.startedAt);
      const seconds = (Date.parse(done.finishedAt) - started) / 1000;
      const idleBytes = Math.round(idlePerSecond * Math.max(0, started - t0) / 1000); // polls while the push ran
      await waitReceipt(app, pushed);
      await sleep(500);
      const withReceipt = proxy.bytes() - before;
      const r = done.view.lastRelease;
      delta = { load, seconds, releaseBytes, withReceipt, idlePerSecond, idleBytes, missing: r?.missingBytes ?? 0, fetched: r?.fetchedBytes ?? 0, saved: r?.savedBytes ?? 0 };
      log(`delta: ${JSON.stringify(delta)}`);
    } finally {
      if (app.child.exitCode === null) await app.stop();
      await rm(dir, { recursive: true, force: true });
    }

    const peakRss = Math.max(...rssAll);
    const limit = deltaSize * 1.01;
    const pct = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(2)}%`;
    const table = [
      `Release of ${(total / MiB).toFixed(0)} MiB of random layers (3 images, one base layer shared by all three), pushed with \`bundle push\` to a docker-registry (the depot), ${runs} pairs, ${new Date().toISOString().slice(0, 10)}, ${process.version}, 2 cores shared with other work.`,
      '',
      '| comparison | airlock | peer | ratio | target | appliance peak RSS during the pull (max of runs) | load (1 min) |',
      '|---|---|---|---|---|---|---|',
      `| fresh \`appliance serve --depot\`, spawn to the import applied (import record's \`finishedAt\`) vs \`skopeo copy --all docker://REG/REPO@DIGEST oci:DIR\` of the same 3 image manifests | ${pull.ours.seconds.toFixed(2)} s | ${pull.peer.seconds.toFixed(2)} s | ${ratioCell(pull, 1.0)} | ≤ 1.0× | ${mib(peakRss)} | ${loadCell(pull)} |`,
      '',
      `Where the appliance's time goes (median of its ${runs} runs): process start to listening ${median(phases.map((p) => p.start)).toFixed(2)} s; first poll, signature and manifests until the import starts ${median(phases.map((p) => p.check)).toFixed(2)} s; the import, started to applied ${median(phases.map((p) => p.importing)).toFixed(2)} s. The import alone against the same pairs' skopeo runs: **${median(importRatios).toFixed(2)}×** (pairs ${Math.min(...importRatios).toFixed(2)}–${Math.max(...importRatios).toFixed(2)}×). Of the process start, in the same run (median of 3, \`node -e\`): loading \`dist/appliance/server.js\` ${median(loads.server).toFixed(2)} s, the cluster client \`dist/appliance/reconcile/cluster.js\` alone ${median(loads.kube).toFixed(2)} s (not loaded by an appliance without a cluster, as here), a bare \`node\` ${median(loads.bare).toFixed(2)} s. Peak RSS of each run: ${rssAll.map(mib).join(', ')}.`,
      '',
      `Against skopeo followed by \`sync\` (skopeo does not sync; the appliance fsyncs what it stores before it says applied; the \`sync\` also flushes whatever else the shared machine wrote): **${median(syncedRatios).toFixed(2)}×** (pairs ${Math.min(...syncedRatios).toFixed(2)}–${Math.max(...syncedRatios).toFixed(2)}×; sync ${median(peerSync).toFixed(2)} s median). Written to storage per run (median): appliance ${mib(median(oursWritten) / 1024)} (/proc/PID/io \`write_bytes\`: each fetched blob once, to its ingest file, which the store takes by rename; plus the state database), skopeo ${mib(median(peerWritten) / 1024)} (GNU time's file system outputs).`,
      '',
      '| one-layer delta (release 2 replaces one layer of img3 with a new one) | figure | target |',
      '|---|---|---|',
      `| the new layer | ${deltaSize.toLocaleString('en')} B | — |`,
      `| blob bytes the appliance fetched (\`depot.lastRelease.fetchedBytes\`; held and not fetched: ${delta.saved.toLocaleString('en')} B) | ${delta.fetched.toLocaleString('en')} B | — |`,
      `| bytes on the wire between appliance and registry, both ways, headers included (TCP proxy), from the push of release 2 until the appliance's receipt after it was pushed back | **${delta.withReceipt.toLocaleString('en')} B** (layer ${pct(delta.withReceipt / deltaSize - 1)}) | ≤ layer + 1% ${delta.withReceipt <= limit ? '(met)' : '(missed)'} |`,
      `| of which idle polls while the push ran (\`--depot-interval 1s\`: ${Math.round(delta.idlePerSecond).toLocaleString('en')} B/s measured over 10 s before) and the receipt push | ≈ ${delta.idleBytes.toLocaleString('en')} B polls, ${(delta.withReceipt - delta.releaseBytes).toLocaleString('en')} B or more receipt (part may land before the apply is seen) | — |`,
      `| the delta's import, started to applied (import record; load ${delta.load.toFixed(1)}) | ${delta.seconds.toFixed(2)} s | — |`,
      '',
      'The pull runs in back-to-back pairs (ABBA order, dirty pages flushed before each run); times are the median run of',
      'each, the ratio is the median of the pairs\' ratios with the range of the pairs beside it. The appliance\'s time',
      'includes its process start, the signature check before any blob and the import pipeline\'s own hashing and',
      'fsyncs; skopeo\'s includes its process starts.',
    ].join('\n');
    process.stdout.write(`${table}\n`);
    await updateResults(values.out ?? 'bench/RESULTS.md', 'depot', '## Appliance pull from a depot (`bench/depot-bench.ts`)', table);
  } finally {
    await proxy?.stop();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Waits until the appliance's receipt push time differs from `previous`; the new one. */
async function waitReceipt(app: Running, previous: string | null): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const p = (await app.depot()).report.lastPush;
    if (p && p !== previous) return p;
    await sleep(100);
  }
  throw new Error('no receipt pushed');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
