/**
 * Issue 16 item 3 and the Git half of item 2, on a real appliance process: `git http-backend` children live only
 * as long as their request (raw sockets send part of an upload-pack POST and go away; the children, counted from
 * /proc/PID/task/N/children, go too), SIGTERM ends the process while a Git request hangs, and a spawn of git that
 * fails for want of descriptors (`prlimit --pid`) is answered 503 with the process still serving.
 */
import { readdir, readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Site, importPath, makeSite } from '../helpers/appliance-fixture.js';
import { run } from '../helpers/exec.js';
import { type PullAppliance, fdLimit, gitChildren, rawRequest, setFdLimit, spawnPullAppliance, waitFor } from '../helpers/pull-appliance.js';

let site: Site;
let dataDir: string;
let app: PullAppliance;

/** Whether the process exists and is not a zombie. */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return stat !== '' && state !== 'Z' && state !== 'X';
}

/** Every descendant of `pid` (children, their children, …). */
async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  const queue = [pid];
  for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
    for (const task of await readdir(`/proc/${p}/task`).catch(() => [] as string[])) {
      const kids = (await readFile(`/proc/${p}/task/${task}/children`, 'utf8').catch(() => '')).split(/\s+/).filter(Boolean).map(Number);
      out.push(...kids);
      queue.push(...kids);
    }
  }
  return out;
}

/** A connection that sent `text` and waits (raw socket). */
function hold(url: string, text: string): Promise<Socket> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(text);
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

/** The start of a `git-upload-pack` POST whose body never arrives whole. */
const partialUploadPack = (host: string) =>
  `POST /git/platform.git/git-upload-pack HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-git-upload-pack-request\r\nAccept: application/x-git-upload-pack-result\r\nContent-Length: 100000\r\n\r\n0032want `;

beforeAll(async () => {
  site = await makeSite();
  dataDir = join(site.dir, 'data');
  app = await spawnPullAppliance(site, dataDir);
  await site.bundle({ sequence: 1, name: 'first' });
  expect((await importPath(app.url, await app.token(), 'first.airlock')).state).toBe('applied');
});

afterAll(async () => {
  await app?.stop();
});

describe('git http-backend children', () => {
  it('go when the upload-pack POST that started them is aborted midway', async () => {
    expect(await gitChildren(app.pid)).toEqual([]);
    const sockets = await Promise.all(Array.from({ length: 5 }, () => hold(app.url, partialUploadPack(app.host))));
    await waitFor(async () => (await gitChildren(app.pid)).length === 5, 'five git http-backend children');
    const tree = await descendants(app.pid);
    expect(tree.length).toBeGreaterThanOrEqual(5);
    for (const socket of sockets) socket.destroy();
    await waitFor(async () => (await gitChildren(app.pid)).length === 0, 'the git children to go');
    for (const pid of tree) await waitFor(async () => !(await running(pid)), `descendant ${pid} to end`);
    // and the mirror still serves
    expect(await run('git', ['ls-remote', `${app.url}/git/platform.git`])).toMatch(/refs\/heads\/main/);
    expect(await gitChildren(app.pid)).toEqual([]);
  });

  it('go with the process on SIGTERM, which exits although a Git request hangs', async () => {
    const socket = await hold(app.url, partialUploadPack(app.host));
    await waitFor(async () => (await gitChildren(app.pid)).length === 1, 'a git http-backend child');
    const tree = await descendants(app.pid);
    app.child.kill('SIGTERM');
    const code = await app.exited;
    socket.destroy();
    expect(code).toBe(0);
    expect(app.log()).toContain('appliance stopped');
    for (const pid of tree) await waitFor(async () => !(await running(pid)), `git process ${pid} to end with the appliance`);
  });

  it('that cannot start for want of descriptors are answered 503, and the process keeps serving', async () => {
    const limited = await spawnPullAppliance(site, dataDir, { args: ['--max-connections-per-client', '100000'] }); // descriptors, not the per-client limit, run out
    const held: Socket[] = [];
    try {
      await setFdLimit(limited.pid, 128);
      const limit = await fdLimit(limited.pid);
      expect(limit).toBe(128);
      // Fill the descriptor table up to two free slots with connections that sent half a request line.
      const count = async () => (await readdir(`/proc/${limited.pid}/fd`)).length;
      for (;;) {
        const before = await count();
        const free = limit - before;
        if (free <= 2) break;
        const batch = Math.max(1, Math.min(100, free - 6));
        held.push(...(await Promise.all(Array.from({ length: batch }, () => hold(limited.url, 'GET /v2/ HTTP/1.1\r\n')))));
        await waitFor(async () => (await count()) >= before + batch, 'the server to accept the connections');
      }
      // One slot for this connection, none left for git's pipes: spawn fails with EMFILE.
      const answer = await rawRequest(limited.url, '/git/platform.git/info/refs?service=git-upload-pack');
      expect(answer.status).toBe(503);
      expect(answer.body.toString()).toMatch(/git http-backend could not start \((EMFILE|ENFILE)\)/);
      expect(limited.child.exitCode).toBeNull();
      for (const socket of held.splice(0)) socket.destroy();
      await waitFor(async () => limit - (await readdir(`/proc/${limited.pid}/fd`)).length > 10, 'the held connections to close');
      expect(await run('git', ['ls-remote', `${limited.url}/git/platform.git`])).toMatch(/refs\/heads\/main/);
      expect((await rawRequest(limited.url, '/v2/team/app/tags/list')).status).toBe(200);
    } finally {
      for (const socket of held) socket.destroy();
      await limited.stop();
    }
  });
});
