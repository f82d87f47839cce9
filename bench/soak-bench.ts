/**
 * Soak: one appliance (a real `airlock appliance serve` process) under a steady mix for a long time, to see that
 * what it holds stays flat: open descriptors (/proc/PID/fd), RSS (/proc/PID/status), disk of the data directory.
 * The mix, all at once for the whole duration:
 * - `skopeo copy --all docker://… oci:…` of a multi-arch image, in a loop
 * - raw GETs (manifests, config and layers of one platform of the multi-arch image; the single-platform worker
 *   image), bodies read to the end, two loops
 * - `git clone` of the mirror over smart HTTP, in a loop
 * - an import every --import-every (default 60s): a new bundle with one new Git commit and one new 1 MiB layer
 * Figures at the start (after the first import and a warm-up) and the end, a sample every minute in between,
 * requests per second by kind, and every failure counted (none expected; a raw GET not answered in full within
 * 30 s counts as failed).
 * Usage: node dist/bench/soak-bench.js [--minutes 60] [--import-every 60s] [--out bench/RESULTS.md] [--label TEXT]
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/units.js';
import { BINARY } from '../test/helpers/cli.js';
import { run } from '../test/helpers/exec.js';
import { gitCommit, gitInit } from '../test/helpers/git-repo.js';
import { tagLayout } from '../test/helpers/images.js';
import { type Appliance, importFromMedia, startAppliance } from './import-bench.js';
import { randomLayer } from './lib.js';
import { updateResults } from './results.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    'import-every': { type: 'string', default: '60s' },
    out: { type: 'string', default: 'bench/RESULTS.md' },
    label: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const importEveryMs = parseDuration(values['import-every'] ?? '60s') ?? 0;
if (!(minutes > 0) || importEveryMs < 1000) throw new Error('usage: --minutes N (N > 0) --import-every DURATION (≥ 1s)');
const MiB = 1024 * 1024;
/** A raw GET that takes longer than this (body included) counts as failed: a hang shows up instead of stalling a loop. */
const REQUEST_TIMEOUT_MS = 30_000;

interface Sample {
  atSeconds: number;
  fds: number;
  rssKiB: number;
  diskBytes: number;
}

interface Counter {
  ok: number;
  failed: number;
  lastError?: string;
}

async function sample(pid: number, dataDir: string, startedAt: number): Promise<Sample> {
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return { atSeconds: Math.round((Date.now() - startedAt) / 1000), fds, rssKiB, diskBytes: await diskUsage(dataDir) };
}

/** Bytes of every regular file under a directory (apparent sizes, as `du -sb`). */
async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    total += (await stat(join(entry.parentPath, entry.name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

async function jsonBlob(layout: string, value: unknown, mediaType: string) {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { mediaType, digest, size: bytes.length };
}

type Blob = Awaited<ReturnType<typeof randomLayer>>;

async function image(layout: string, layers: Blob[], tag: string, architecture = 'amd64') {
  const config = await jsonBlob(layout, { os: 'linux', architecture, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }, 'application/vnd.oci.image.config.v1+json');
  const manifest = await jsonBlob(layout, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers }, 'application/vnd.oci.image.manifest.v1+json');
  if (tag) await tagLayout(layout, manifest, tag);
  return { ...manifest, platform: { os: 'linux', architecture } };
}

const spec = (images: string[]) =>
  `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: soak\n  channel: stable\ndiscoverImages: false\nimages:\n${images.map((i) => `  - oci:./layout:${i}\n`).join('')}git:\n  - name: platform\n    url: ./repo\n    ref: main\n    manifests: manifests\n`;

/** Runs `step` again and again until `until`, counting successes and failures. */
async function loop(until: number, counter: Counter, step: () => Promise<number>): Promise<void> {
  while (Date.now() < until) {
    try {
      const done = await step(); // not `ok += await step()`: two loops share a counter
      counter.ok += done;
    } catch (err) {
      counter.failed++;
      const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
      counter.lastError = `${(err as Error).message}${cause ? ` (${cause.code ?? ''} ${cause.message ?? ''})` : ''}`.slice(0, 300);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function rawPull(app: Appliance, repository: string, tag: string): Promise<number> {
  const accept = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';
  const index = (await (await check(await fetch(`${app.url}/v2/${repository}/manifests/${tag}`, { headers: { accept }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }))).json()) as { manifests: { digest: string }[] };
  const first = index.manifests[0]?.digest ?? '';
  const manifest = (await (await check(await fetch(`${app.url}/v2/${repository}/manifests/${first}`, { headers: { accept }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }))).json()) as { config: { digest: string }; layers: { digest: string }[] };
  let n = 2;
  for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
    await (await check(await fetch(`${app.url}/v2/${repository}/blobs/${d}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }))).arrayBuffer();
    n++;
  }
  return n;
}

async function check(res: Response): Promise<Response> {
  if (!res.ok) throw new Error(`${res.url}: HTTP ${res.status}`);
  return res;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'airlock-soak-bench-'));
  const k = (n: string) => join(work, n);
  let app: Appliance | undefined;
  try {
    // A multi-arch image of 2 × (2 shared + 1 own) layers of 4 MiB, a small worker image, a Git repository.
    const layout = k('layout');
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const shared = [await randomLayer(layout, 4 * MiB), await randomLayer(layout, 4 * MiB)];
    const amd = await image(layout, [...shared, await randomLayer(layout, 4 * MiB)], '', 'amd64');
    const arm = await image(layout, [...shared, await randomLayer(layout, 4 * MiB)], '', 'arm64');
    const indexDesc = await jsonBlob(layout, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [amd, arm] }, 'application/vnd.oci.image.index.v1+json');
    await tagLayout(layout, indexDesc, 'soak/app:1');
    await image(layout, [await randomLayer(layout, 1 * MiB)], 'soak/worker:1');
    const repo = k('repo');
    await gitInit(repo);
    for (let c = 0; c < 20; c++) await gitCommit(repo, { [`manifests/cm-${c}.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${c}\ndata:\n  n: "${c}"\n` }, `commit ${c}`);

    await run(BINARY, ['keys', 'generate', '--out', k('root')]);
    await run(BINARY, ['keys', 'generate', '--out', k('release')]);
    await run(BINARY, ['trust', 'init', '--root-key', k('root.pub'), '--release-key', k('release.pub'), '--sign', k('root.key'), '--out', k('root.json')]);
    const media = k('media');
    await mkdir(media);
    let sequence = 0;
    const churn: string[] = [];
    /** Builds the next release (one new commit, one new 1 MiB image) into the media directory. */
    const nextBundle = async (): Promise<string> => {
      sequence++;
      if (sequence > 1) {
        await gitCommit(repo, { [`manifests/release-${sequence}.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release-${sequence}\n` }, `release ${sequence}`);
        await image(layout, [await randomLayer(layout, 1 * MiB)], `soak/churn:${sequence}`);
        churn.splice(0, churn.length, `soak/churn:${sequence}`);
      }
      await writeFile(k('spec.yaml'), spec(['soak/app:1', 'soak/worker:1', ...churn]));
      const name = `release-${sequence}.airlock`;
      await run(BINARY, ['bundle', 'create', '-f', k('spec.yaml'), '--key', k('release.key'), '-o', join(media, name), '--sequence', String(sequence)]);
      return name;
    };

    const dataDir = k('data');
    app = await startAppliance(dataDir, k('root.json'), media);
    const running = app;
    const pid = running.child.pid ?? 0;
    const host = running.url.replace('http://', '');
    const first = await nextBundle();
    await importFromMedia(running, first);
    await rm(join(media, first));

    const counters = { skopeo: { ok: 0, failed: 0 } as Counter, raw: { ok: 0, failed: 0 } as Counter, git: { ok: 0, failed: 0 } as Counter, imports: { ok: 0, failed: 0 } as Counter };
    const scratch = k('scratch');
    await mkdir(scratch);
    let runs = 0;
    const skopeoStep = async () => {
      const dir = join(scratch, `oci-${runs++}`);
      await run('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${host}/soak/app:1`, `oci:${dir}:app`]);
      await rm(dir, { recursive: true, force: true });
      return 1;
    };
    const gitStep = async () => {
      const dir = join(scratch, `clone-${runs++}`);
      await run('git', ['clone', '--quiet', `${running.url}/git/platform.git`, dir]);
      await rm(dir, { recursive: true, force: true });
      return 1;
    };
    let importMs = 0;
    const importStep = async () => {
      const due = Date.now() + importEveryMs;
      const name = await nextBundle();
      importMs += (await importFromMedia(running, name)) * 1000;
      await rm(join(media, name));
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      return 1;
    };

    // Warm-up: a round of each, so that the start figures are of a process that has served every kind.
    await skopeoStep();
    await gitStep();
    await rawPull(running, 'soak/app', '1');
    const startedAt = Date.now();
    const loadAtStart = loadavg()[0] ?? 0;
    const samples: Sample[] = [await sample(pid, dataDir, startedAt)];
    process.stderr.write(`soak: ${minutes} min against ${running.url} (pid ${pid}); start: ${JSON.stringify(samples[0])}\n`);
    const until = startedAt + minutes * 60_000;
    const sampler = setInterval(() => {
      void sample(pid, dataDir, startedAt).then((s) => {
        samples.push(s);
        process.stderr.write(`soak: ${JSON.stringify(s)} ${JSON.stringify(counters)}\n`);
      }, () => undefined);
    }, 60_000);
    await Promise.all([
      loop(until, counters.skopeo, skopeoStep),
      loop(until, counters.raw, () => rawPull(running, 'soak/app', '1')),
      loop(until, counters.raw, () => rawWorker(running)),
      loop(until, counters.git, gitStep),
      loop(until, counters.imports, importStep),
    ]);
    clearInterval(sampler);
    const elapsed = (Date.now() - startedAt) / 1000;
    // Let the last requests' sockets and children close before the end figures.
    await new Promise((r) => setTimeout(r, 2000));
    const end = await sample(pid, dataDir, startedAt);
    samples.push(end);
    const start = samples[0] as Sample;
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    const loadAtEnd = loadavg()[0] ?? 0;
    const failures = Object.entries(counters).filter(([, c]) => c.failed > 0);

    const rate = (c: Counter) => (c.ok / elapsed).toFixed(2);
    const mibOf = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
    const label = values.label ?? `${minutes}-minute run`;
    const body = [
      `**${label}** (${new Date(startedAt).toISOString().slice(0, 16)}Z, ${elapsed.toFixed(0)} s; one appliance process, embedded registry, no cluster). Mix at once: \`skopeo copy --all\` of a 2-platform image (5 layers of 4 MiB) in a loop; raw GETs (manifest by tag, one platform's manifest, config and layers, bodies read) in two loops; \`git clone\` of the mirror in a loop; an import every ${values['import-every']} (one new commit and one new 1 MiB image per release). Machine load (1-minute average) ${loadAtStart.toFixed(1)} at the start, ${loadAtEnd.toFixed(1)} at the end, on ${availableParallelism()} cores: the rates are this machine's at that moment; the flat-or-not figures are the point.`,
      '',
      '| | start | end | change |',
      '|---|---|---|---|',
      `| open descriptors (/proc/PID/fd) | ${start.fds} | ${end.fds} | ${end.fds - start.fds >= 0 ? '+' : ''}${end.fds - start.fds} |`,
      `| RSS | ${(start.rssKiB / 1024).toFixed(0)} MiB | ${(end.rssKiB / 1024).toFixed(0)} MiB | ${end.rssKiB >= start.rssKiB ? '+' : ''}${((end.rssKiB - start.rssKiB) / 1024).toFixed(0)} MiB (peak ${(hwm / 1024).toFixed(0)} MiB) |`,
      `| data directory on disk | ${mibOf(start.diskBytes)} | ${mibOf(end.diskBytes)} | +${mibOf(end.diskBytes - start.diskBytes)} over ${counters.imports.ok} imports |`,
      '',
      '| requests | completed | per second | failed |',
      '|---|---|---|---|',
      `| \`skopeo copy --all\` (whole image pulls) | ${counters.skopeo.ok} | ${rate(counters.skopeo)} | ${counters.skopeo.failed} |`,
      `| raw /v2 GETs | ${counters.raw.ok} | ${rate(counters.raw)} | ${counters.raw.failed} |`,
      `| \`git clone\` | ${counters.git.ok} | ${rate(counters.git)} | ${counters.git.failed} |`,
      `| imports | ${counters.imports.ok} (mean ${counters.imports.ok ? (importMs / counters.imports.ok / 1000).toFixed(2) : '–'} s) | ${rate(counters.imports)} | ${counters.imports.failed} |`,
      '',
      `Samples (s: descriptors / RSS MiB / disk MiB): ${samples.map((s) => `${s.atSeconds}: ${s.fds} / ${(s.rssKiB / 1024).toFixed(0)} / ${(s.diskBytes / MiB).toFixed(0)}`).join('; ')}.`,
      ...(failures.length ? ['', `Failures: ${failures.map(([kind, c]) => `${kind}: ${c.failed} (last: ${c.lastError ?? ''})`).join('; ')}.`] : []),
    ].join('\n');
    process.stdout.write(`${body}\n`);
    await updateResults(values.out ?? 'bench/RESULTS.md', 'soak', '## Soak (`bench/soak-bench.ts`)', body);
  } finally {
    await app?.stop().catch(() => 0);
    await rm(work, { recursive: true, force: true });
  }
}

/** The worker image is a single manifest, not an index: its pull is manifest, config, layer. */
async function rawWorker(app: Appliance): Promise<number> {
  const accept = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = (await (await check(await fetch(`${app.url}/v2/soak/worker/manifests/1`, { headers: { accept }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }))).json()) as { config: { digest: string }; layers: { digest: string }[] };
  for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) await (await check(await fetch(`${app.url}/v2/soak/worker/blobs/${d}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }))).arrayBuffer();
  return 1 + 1 + manifest.layers.length;
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

