import { Writable } from 'node:stream';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../bin/main.js';
import { type ExecResult, exec } from './exec.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Runs the CLI in this process (fast); `env` is applied to process.env for the duration. */
export async function cli(args: string[], { env = {}, now }: { env?: Record<string, string>; now?: Date } = {}): Promise<ExecResult> {
  const stdout = new Capture();
  const stderr = new Capture();
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const code = await main(args, { stdout, stderr, interactive: false, ...(now ? { now: () => now } : {}) });
    return { code, stdout: stdout.text, stderr: stderr.text };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** The repository's bin/airlock.js, found from here whether this file runs from source or from dist/. */
export const BINARY = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return join(dir, 'bin', 'airlock.js');
})();

/** Runs the built `airlock` executable as a user would, through its shebang (needs `npm run build`). */
export function airlock(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ExecResult> {
  return exec(BINARY, args, opts);
}
