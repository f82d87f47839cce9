/**
 * For the pull-side tests (/v2, /git): the appliance as a real process with any flags, its descriptor limit
 * lowered while it runs (`prlimit --pid`), what that process holds (open descriptors from /proc/PID/fd, git children from
 * /proc/PID/task/N/children), raw HTTP requests that can stop midway, and polling until a condition holds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Site } from './appliance-fixture.js';
import { BINARY } from './cli.js';
import { run } from './exec.js';
import { freePort } from './registry.js';

export interface PullAppliance {
  url: string;
  host: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  log: () => string;
  token: () => Promise<string>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** `airlock appliance serve` as a child process, with extra flags. */
export async function spawnPullAppliance(site: Site, dataDir: string, { args = [] }: { args?: string[] } = {}): Promise<PullAppliance> {
  const port = await freePort();
  const serve = [BINARY, 'appliance', 'serve', '--data', dataDir, '--trust', site.trustPath, '--listen', `127.0.0.1:${port}`, '--media', site.media, ...args];
  const child = spawn(process.execPath, serve, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor(async () => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`appliance exited at start: ${output}`);
    return output.includes('appliance listening');
  }, `the appliance to listen (${output})`, 20_000);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    host: `127.0.0.1:${port}`,
    pid: child.pid ?? 0,
    child,
    exited,
    log: () => output,
    token: async () => (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim(),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** What each open descriptor of the process points at (`socket:[…]`, `pipe:[…]`, file paths). */
export async function openFds(pid: number): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir(`/proc/${pid}/fd`)) out.push(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => 'gone'));
  return out;
}

/**
 * Lowers a running process's limit on open descriptors (soft and hard). Done after the start: loading the
 * Kubernetes client opens hundreds of module files at once.
 */
export async function setFdLimit(pid: number, limit: number): Promise<void> {
  await run('prlimit', ['--pid', String(pid), `--nofile=${limit}:${limit}`]);
}

/** The process's soft limit on open descriptors. */
export async function fdLimit(pid: number): Promise<number> {
  const line = (await readFile(`/proc/${pid}/limits`, 'utf8')).split('\n').find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3]);
}

/** The pids of the process's direct children that run `git` (git http-backend and its kind). */
export async function gitChildren(pid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const task of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const text = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '');
    pids.push(...text.split(/\s+/).filter(Boolean).map(Number));
  }
  const out: number[] = [];
  for (const child of pids) if ((await readFile(`/proc/${child}/comm`, 'utf8').catch(() => '')).trim() === 'git') out.push(child);
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` until it returns true; fails naming `what` after `ms`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * One request on its own connection (no keep-alive). With `stopAfter`, the connection is destroyed once that many
 * body bytes arrived (a client going away midway); the answer then holds what came.
 */
export function rawRequest(url: string, path: string, { method = 'GET', headers = {}, stopAfter }: { method?: string; headers?: Record<string, string>; stopAfter?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers: { connection: 'close', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let got = 0;
      const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        got += chunk.length;
        if (stopAfter !== undefined && got >= stopAfter) {
          req.destroy();
          done();
        }
      });
      res.on('end', done);
      res.on('error', () => done());
    });
    req.on('error', (err) => (stopAfter !== undefined ? undefined : reject(err)));
    req.end();
  });
}
