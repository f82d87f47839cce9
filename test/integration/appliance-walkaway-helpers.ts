/** Shared by the appliance-walkaway tests: programs run with a time limit (a hang fails the test), and curl. */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Timed {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The program was killed at the time limit: it hung. */
  timedOut: boolean;
}

/** Runs a program, killing it after `timeoutMs`; never throws on a non-zero exit. */
export function runTimed(cmd: string, args: string[], timeoutMs = 30_000, env: NodeJS.ProcessEnv = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: signal && !timedOut ? `${stderr}(killed by ${signal})` : stderr, timedOut });
    });
  });
}

export interface CurlAnswer extends Timed {
  status: number;
  body: Record<string, unknown>;
  headers: string;
}

/** curl with the status code and headers of the answer; the body parsed as JSON when it is JSON. */
export async function curl(args: string[], timeoutMs = 30_000): Promise<CurlAnswer> {
  const dir = await mkdtemp(join(tmpdir(), 'curl-'));
  const headerFile = join(dir, 'headers');
  const r = await runTimed('curl', ['-sS', '-D', headerFile, '-w', '\n%{http_code}', ...args], timeoutMs);
  const headers = await readFile(headerFile, 'utf8').catch(() => '');
  await rm(dir, { recursive: true, force: true });
  const lines = r.stdout.split('\n');
  const status = Number(lines.pop());
  const text = lines.join('\n');
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { ...r, status, body, headers };
}
