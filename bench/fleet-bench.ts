/**
 * The fleet at scale: 10,000 sites, each with its own Ed25519 key and a signed receipt (two clusters, 40 held
 * blobs). `airlock fleet status` from a folder of receipts (target ≤ 10 s) and from a real docker-registry depot
 * on this machine (≤ 60 s), each with its peak RSS (≤ 300 MiB); then `airlock fleet serve` answering a page of
 * sites (≤ 200 ms, the median of 20 requests for pages spread over the list).
 * Receipts go to the depot the way appliances push them (appliance/depot/report.ts: the receipt blob, and the same
 * bytes inline in the manifest's layer descriptor); `--inline-limit 0` pushes them as appliances before issue 15's
 * speed-up did (blob only: two requests per site).
 * Usage: node dist/bench/fleet-bench.js [--sites 10000] [--runs 3] [--inline-limit BYTES] [--out bench/RESULTS.md]
 */
import { createPrivateKey, createPublicKey, createHash, randomBytes, sign } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { INLINE_RECEIPT_LIMIT, pushReceipt } from '../appliance/depot/report.js';
import { pae, serializeEnvelope } from '../keys/dsse.js';
import { RECEIPT_PAYLOAD_TYPE, type Receipt } from '../keys/receipt.js';
import { connectDepot } from '../src/depot/connect.js';
import { parseDepotRef } from '../src/depot/layout.js';
import { mapLimit } from '../src/fleet/limit.js';
import { RegistryRepository } from '../src/registry/repository.js';
import { BINARY } from '../test/helpers/cli.js';
import { exec } from '../test/helpers/exec.js';
import { startRegistry } from '../test/helpers/registry.js';
import { median, mib } from './lib.js';
import { updateResults } from './results.js';

const { values } = parseArgs({ options: { sites: { type: 'string', default: '10000' }, out: { type: 'string', default: 'bench/RESULTS.md' }, 'make-only': { type: 'string' }, runs: { type: 'string', default: '3' }, 'inline-limit': { type: 'string' } } });
const INLINE_LIMIT = values['inline-limit'] === undefined ? INLINE_RECEIPT_LIMIT : Number(values['inline-limit']);
const RUNS = Number(values.runs);
const SITES = Number(values.sites);
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ROOT = `sha256:${'d'.repeat(64)}`;

interface Site {
  name: string;
  created: string;
  publicB64: string;
  receipt: string;
}

/** A site's key made and its receipt signed with Node's Ed25519 (what tweetnacl would write, faster). */
function makeSite(i: number, now: Date): Site {
  const name = `store-${String(i).padStart(5, '0')}`;
  const seed = randomBytes(32);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
  const raw = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(-32);
  const keyid = createHash('sha256').update(raw).digest('hex');
  const created = new Date(now.getTime() - (i % 60) * 60_000).toISOString();
  const receipt: Receipt = {
    type: 'airlock-receipt',
    created,
    appliance: keyid,
    site: name,
    labels: { region: ['eu', 'us', 'apac'][i % 3] as string },
    channels: [{ channel: 'stable', name: 'pos', sequence: 7, root: ROOT, appliedAt: created, sync: 'Synced', health: 'Healthy' }],
    placements: ['pos', 'cameras'].map((cluster) => ({ cluster, channel: 'stable', root: ROOT, sync: 'Synced', health: i % 97 === 0 ? 'Degraded' : 'Healthy', drifted: 0, checkedAt: created })),
    blobs: Array.from({ length: 40 }, (_, b) => `sha256:${createHash('sha256').update(`${b}`).digest('hex')}`).sort(),
    git: [],
  };
  const payload = Buffer.from(JSON.stringify(receipt));
  const sig = sign(null, pae(RECEIPT_PAYLOAD_TYPE, payload), privateKey).toString('base64');
  return { name, created, publicB64: raw.toString('base64'), receipt: `${serializeEnvelope({ payload: payload.toString('base64'), payloadType: RECEIPT_PAYLOAD_TYPE, signatures: [{ keyid, sig }] })}\n` };
}

async function pushAll(depot: string, sites: Site[]): Promise<void> {
  const { repo: top, close } = await connectDepot({ ref: parseDepotRef(depot), env: {} });
  try {
    await mapLimit(sites, 16, async (s) => {
      const repo = new RegistryRepository(top.client, `${top.name}/sites/${s.name}`);
      await pushReceipt(repo, s.receipt, s.created, INLINE_LIMIT);
    });
  } finally {
    close();
  }
}

interface Measurement {
  seconds: number;
  /** User + system CPU of the command (GNU time). */
  cpuSeconds: number;
  maxRssKiB: number;
  /** The 1-minute load average before and after (the machine is shared). */
  load: [number, number];
  /** CPU seconds the docker-registry spent meanwhile (depot runs). */
  registryCpu?: number;
}

/** One run under `/usr/bin/time -v`: wall and CPU time, peak RSS, the load around it, the registry's CPU. */
async function measure(args: string[], env: NodeJS.ProcessEnv, registryPid?: number): Promise<Measurement> {
  const load0 = loadavg()[0] ?? 0;
  const reg0 = registryPid ? await cpuOf(registryPid) : 0;
  const started = process.hrtime.bigint();
  const res = await exec('/usr/bin/time', ['-v', process.execPath, BINARY, ...args], { env });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (res.code !== 0) throw new Error(`fleet ${args.join(' ')} exited ${res.code}: ${res.stderr.slice(-2000)}`);
  const field = (re: RegExp) => Number(re.exec(res.stderr)?.[1] ?? 0);
  return {
    seconds,
    cpuSeconds: field(/User time \(seconds\): ([\d.]+)/) + field(/System time \(seconds\): ([\d.]+)/),
    maxRssKiB: field(/Maximum resident set size \(kbytes\): (\d+)/),
    load: [load0, loadavg()[0] ?? 0],
    ...(registryPid ? { registryCpu: (await cpuOf(registryPid)) - reg0 } : {}),
  };
}

/** utime + stime of a process, in seconds (/proc/PID/stat, 100 ticks a second). */
async function cpuOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The docker-registry serving from `storage` (its config sits next to it). */
async function registryPidOf(storage: string): Promise<number | undefined> {
  const config = join(storage, '..', 'config.yml');
  for (const pid of (await readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith('docker-registry') && cmd.includes(config)) return Number(pid);
  }
  return undefined;
}

async function serve(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BINARY, 'fleet', 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /fleet page: (http:\/\/[^/]+)\/ui\//.exec(err);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`fleet serve exited ${code}: ${err}`)));
  });
  return { child, url };
}

async function pageTimes(url: string, password: string): Promise<{ sites: number; overview: number; detail: number }> {
  const login = await fetch(`${url}/ui/login`, { method: 'POST', body: new URLSearchParams({ name: 'admin', password }), redirect: 'manual' });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const time = async (path: string) => {
    const t = process.hrtime.bigint();
    const res = await fetch(`${url}${path}`, { headers: { cookie } });
    const text = await res.text();
    if (res.status !== 200 || !text.includes('</html>')) throw new Error(`${path}: ${res.status}`);
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const pages = Math.ceil(SITES / 100);
  const sites: number[] = [];
  const overview: number[] = [];
  const detail: number[] = [];
  for (let i = 0; i < 20; i++) {
    sites.push(await time(`/ui/sites?page=${1 + Math.floor((i * pages) / 20)}`));
    overview.push(await time('/ui/'));
    detail.push(await time(`/ui/sites/store-${String((i * 37) % SITES).padStart(5, '0')}`));
  }
  return { sites: median(sites), overview: median(overview), detail: median(detail) };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'airlock-fleet-bench-'));
  const registry = await startRegistry();
  try {
    const now = new Date();
    const t0 = Date.now();
    const sites = Array.from({ length: SITES }, (_, i) => makeSite(i, now));
    process.stderr.write(`${SITES} keys and signed receipts in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    await mkdir(join(work, 'receipts'));
    await mapLimit(sites, 32, (s) => writeFile(join(work, 'receipts', `${s.name}.json`), s.receipt));
    await writeFile(
      join(work, 'fleet.yaml'),
      `kind: Fleet\nstale: 24h\nsites:\n${sites.map((s, i) => `  - {name: ${s.name}, labels: {region: ${['eu', 'us', 'apac'][i % 3]}${i < 100 ? ', ring: canary' : ''}}, key: ${s.publicB64}}\n`).join('')}waves:\n  - {name: canary, selector: {matchLabels: {ring: canary}}, gate: {healthy: 95%, soak: 30m}}\n  - {name: everyone, selector: {}}\n`,
    );
    await mkdir(join(work, 'docker'));
    await writeFile(join(work, 'docker', 'config.json'), '{}');
    const env = { DOCKER_CONFIG: join(work, 'docker') };
    if (values['make-only']) {
      // Only the fleet file and the receipts, kept in the directory given (for profiling).
      await rm(values['make-only'], { recursive: true, force: true });
      await import('node:fs/promises').then((fs) => fs.rename(work, values['make-only'] as string));
      return;
    }
    const status = (extra: string[], registryPid?: number): Promise<Measurement> => measure(['fleet', 'status', '-f', join(work, 'fleet.yaml'), '--json', ...extra], env, registryPid);

    const folder: Measurement[] = [];
    for (let i = 0; i < RUNS; i++) folder.push(await status(['--receipts', join(work, 'receipts')]));
    const depot = `oci://${registry.host}/bench`;
    const t1 = Date.now();
    const pushLoad = loadavg()[0] ?? 0;
    await pushAll(depot, sites);
    const pushed = `pushing the ${SITES.toLocaleString('en')} receipts beforehand (${INLINE_LIMIT > 0 ? 'receipt inline in the manifest and as a blob' : 'blob only, as before issue 15'}) took ${((Date.now() - t1) / 1000).toFixed(0)} s (load ${pushLoad.toFixed(1)} → ${(loadavg()[0] ?? 0).toFixed(1)})`;
    process.stderr.write(`${pushed}\n`);
    const registryPid = await registryPidOf(registry.storage);
    const fromDepot: Measurement[] = [];
    for (let i = 0; i < RUNS; i++) {
      await rm(join(work, 'history'), { recursive: true, force: true });
      fromDepot.push(await status(['--depot', depot, '--history', join(work, 'history')], registryPid));
    }

    await writeFile(join(work, 'password'), 'bench password 123\n');
    const { child, url } = await serve(['-f', join(work, 'fleet.yaml'), '--receipts', join(work, 'receipts'), '--data', join(work, 'data'), '--listen', '127.0.0.1:0', '--admin-password-file', join(work, 'password')]);
    let times: Awaited<ReturnType<typeof pageTimes>>;
    try {
      times = await pageTimes(url, 'bench password 123');
    } finally {
      child.kill('SIGTERM');
    }

    const fmt = (ms: Measurement[]) => {
      const m = [...ms].sort((a, b) => a.seconds - b.seconds)[Math.floor(ms.length / 2)];
      return `${m?.seconds.toFixed(1)} s (runs: ${ms.map((x) => x.seconds.toFixed(1)).join(', ')}), peak RSS ${mib(Math.max(...ms.map((x) => x.maxRssKiB)))}`;
    };
    const detail = (what: string, ms: Measurement[]) =>
      `${what}, run by run: ${ms.map((x) => `${x.seconds.toFixed(1)} s wall, ${x.cpuSeconds.toFixed(1)} s CPU${x.registryCpu !== undefined ? ` (docker-registry ${x.registryCpu.toFixed(1)} s CPU)` : ''}, load ${x.load[0].toFixed(1)} → ${x.load[1].toFixed(1)}`).join('; ')}.`;
    const body = [
      `${SITES.toLocaleString('en')} sites, each with its own Ed25519 key and a signed receipt (2 clusters, 40 held blobs); median of ${RUNS} run(s) of \`airlock fleet status --json\`:`,
      '',
      '| | time | target |',
      '|---|---|---|',
      `| from a folder of receipts | ${fmt(folder)} | ≤ 10 s, ≤ 300 MiB |`,
      `| from a docker-registry depot on this machine (32 sites at a time) | ${fmt(fromDepot)} | ≤ 60 s, ≤ 300 MiB |`,
      `| \`fleet serve\`: a page of 100 sites (median of 20) | ${times.sites.toFixed(0)} ms | ≤ 200 ms |`,
      `| \`fleet serve\`: the overview (waves, groups) | ${times.overview.toFixed(0)} ms | |`,
      `| \`fleet serve\`: one site's detail | ${times.detail.toFixed(0)} ms | |`,
      '',
      `Machine: shared, 2 cores; measured ${new Date().toISOString().slice(0, 16)} UTC.`,
      detail('From a folder', folder),
      detail(`From the depot (one manifest GET per site${INLINE_LIMIT > 0 ? '' : ', then the blob GET'})`, fromDepot),
      `${pushed[0]?.toUpperCase()}${pushed.slice(1)}.`,
    ].join('\n');
    process.stdout.write(`${body}\n`);
    await updateResults(values.out ?? 'bench/RESULTS.md', 'fleet', '## Fleet', body);
  } finally {
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
