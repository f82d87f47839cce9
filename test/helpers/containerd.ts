/** A private containerd daemon (root, its own config, state and socket) so that `ctr` can pull as a real client. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './exec.js';

export interface TestContainerd {
  ctr(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startContainerd(): Promise<TestContainerd> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-containerd-'));
  const socket = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  await writeFile(
    config,
    `version = 2\nroot = "${join(dir, 'root')}"\nstate = "${join(dir, 'state')}"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "${socket}"\n[ttrpc]\n  address = "${socket}.ttrpc"\n[debug]\n  address = "${join(dir, 'debug.sock')}"\n`,
  );
  const child: ChildProcess = spawn('containerd', ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`containerd exited: ${stderr}`);
    const ready = await stat(socket).then(() => true, () => false);
    if (ready && (await run('ctr', ['--address', socket, 'version']).then(() => true, () => false))) break;
    if (Date.now() > deadline) throw new Error(`containerd did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    ctr: (args) => run('ctr', ['--address', socket, ...args]),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
