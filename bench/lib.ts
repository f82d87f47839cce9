/** Shared pieces of the benchmarks: timing a command with GNU time, and random layers written to a layout. */
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { exec } from '../test/helpers/exec.js';

export interface Measurement {
  seconds: number;
  maxRssKiB: number;
  /** User plus system CPU time of the command and its children. */
  cpuSeconds?: number;
}

/** Runs a command under `/usr/bin/time -v`: wall time and the peak RSS of it and its children. */
export async function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Measurement> {
  const started = process.hrtime.bigint();
  const res = await exec('/usr/bin/time', ['-v', cmd, ...args], { env });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (res.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${res.code}: ${res.stderr.slice(-2000)}`);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(res.stderr);
  const cpu = ['User', 'System'].map((k) => Number(new RegExp(`${k} time \\(seconds\\): ([0-9.]+)`).exec(res.stderr)?.[1] ?? 0));
  return { seconds, maxRssKiB: rss ? Number(rss[1]) : 0, cpuSeconds: (cpu[0] ?? 0) + (cpu[1] ?? 0) };
}

/** CPU seconds (user + system) used so far by the processes whose command line contains `marker`. */
export async function processCpuSeconds(marker: string): Promise<number> {
  let ticks = 0;
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (!(await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes(marker)) continue;
      const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /, '').split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // the process ended in between
    }
  }
  return ticks / 100;
}

/** A running child's peak RSS so far, in KiB (VmHWM). */
export async function peakRss(child: ChildProcess): Promise<number> {
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
}

/** A child's peak RSS in KiB (VmHWM), read before it is stopped with SIGTERM and has exited. */
export async function stopWithPeakRss(child: ChildProcess): Promise<number> {
  const hwm = await peakRss(child);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return hwm;
}

/**
 * Flushes the page cache's dirty pages (the previous run's output) before a measurement, so that one run's
 * writeback does not land in the next one's time. Cached reads stay cached: every run reads warm inputs.
 */
export async function settle(): Promise<void> {
  await exec('sync', []);
}

export interface Paired {
  /** The median run of each, by time. */
  ours: Measurement;
  peer: Measurement;
  /** Ours ÷ peer of each pair (the two runs made back to back), and their median: the figure reported. */
  ratios: number[];
  ratio: number;
  /** The machine's 1-minute load average before each pair (this machine is shared: the figure's context). */
  loads: number[];
}

/** The median (the mean of the two middle values for an even count; 0 for none). */
export const median = (xs: number[]): number => {
  if (!xs.length) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/**
 * Runs ours and the peer's `runs` times each, in back-to-back pairs. The reported ratio is the median of the
 * pairs' ratios: the two runs of a pair see the same machine, while this shared machine's speed drifts by ±20%
 * between pairs, which a ratio of two medians taken from different moments would carry into the figure.
 */
export async function paired(runs: number, ours: () => Promise<Measurement>, peer: () => Promise<Measurement>): Promise<Paired> {
  const a: Measurement[] = [];
  const b: Measurement[] = [];
  const loads: number[] = [];
  // ABBA order: whichever goes first in a pair goes second in the next, so that a position effect (the run right
  // after the other tool's cleanup, a cache warmed by the previous run) falls on both alike.
  for (let i = 0; i < runs; i++) {
    loads.push(loadavg()[0] ?? 0);
    for (const which of i % 2 === 0 ? ['ours', 'peer'] : ['peer', 'ours']) {
      await settle();
      if (which === 'ours') a.push(await ours());
      else b.push(await peer());
    }
  }
  const mid = (list: Measurement[]) => [...list].sort((x, y) => x.seconds - y.seconds)[Math.floor(list.length / 2)] as Measurement;
  const ratios = a.map((m, i) => m.seconds / (b[i] as Measurement).seconds);
  return { ours: mid(a), peer: mid(b), ratios, ratio: median(ratios), loads };
}

/** "**0.95×** (met; pairs 0.90–1.04×)" for a ratio target, or with `asPercent` "+3.1% (met; pairs −2.0…+8.5%)". */
export function ratioCell(p: Paired, limit: number, { asPercent = false } = {}): string {
  const fmt = (x: number) => (asPercent ? `${x >= 1 ? '+' : '−'}${(Math.abs(x - 1) * 100).toFixed(1)}%` : `${x.toFixed(2)}×`);
  const lo = Math.min(...p.ratios);
  const hi = Math.max(...p.ratios);
  return `**${fmt(p.ratio)}** (${p.ratio <= limit ? 'met' : 'missed'}; pairs ${fmt(lo)}${asPercent ? '…' : '–'}${fmt(hi)})`;
}

/** "1.9–3.4" (the 1-minute load average before each pair, lowest to highest). */
export function loadCell(p: Paired): string {
  return `${Math.min(...p.loads).toFixed(1)}–${Math.max(...p.loads).toFixed(1)}`;
}

/** Writes `size` random bytes as an (uncompressed) layer blob into an OCI layout, streaming. */
export async function randomLayer(layout: string, size: number): Promise<{ mediaType: string; digest: string; size: number }> {
  const dir = join(layout, 'blobs', 'sha256');
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `tmp-${randomBytes(4).toString('hex')}`);
  const out = createWriteStream(tmp);
  const hash = createHash('sha256');
  for (let left = size; left > 0; ) {
    const chunk = randomBytes(Math.min(left, 4 << 20));
    hash.update(chunk);
    left -= chunk.length;
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const hex = hash.digest('hex');
  await rename(tmp, join(dir, hex));
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${hex}`, size };
}

export const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
