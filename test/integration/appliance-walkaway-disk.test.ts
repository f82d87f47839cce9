/**
 * A small data disk (a tmpfs of a few MiB; the tests run as root): a full disk and a sign-in attempt give an error
 * page and the appliance process goes on serving (issue 16 item 5); a chunked upload (no Content-Length) of a
 * bundle larger than the free space is refused with 507 as soon as its metadata tells what it needs (item 6).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Site, makeSite, start, waitImport } from '../helpers/appliance-fixture.js';
import { BINARY } from '../helpers/cli.js';
import { run } from '../helpers/exec.js';
import { freePort } from '../helpers/registry.js';
import { curl, runTimed } from './appliance-walkaway-helpers.js';

const mounts: string[] = [];

async function smallDisk(name: string, size: string): Promise<string> {
  const dir = join('/tmp', `walkaway-${name}-${process.pid}`);
  await mkdir(dir, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

afterAll(async () => {
  for (const dir of mounts) {
    await runTimed('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  }
});

/** `airlock appliance serve` as a real process, with an admin password; resolves once it listens. */
async function serveProcess(site: Site, dataDir: string, passwordFile: string): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [BINARY, 'appliance', 'serve', '--data', dataDir, '--trust', site.trustPath, '--listen', `127.0.0.1:${port}`, '--admin-password-file', passwordFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  for (let i = 0; i < 600 && !output.includes('appliance listening'); i++) {
    if (child.exitCode !== null) throw new Error(`the appliance exited: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `http://127.0.0.1:${port}`, child, output: () => output };
}

describe('a full data disk', () => {
  let site: Site;
  let appliance: Awaited<ReturnType<typeof serveProcess>> | undefined;
  afterAll(async () => {
    if (appliance && appliance.child.exitCode === null) {
      appliance.child.kill('SIGTERM');
      await new Promise((r) => appliance?.child.once('exit', r));
    }
  });

  it('a sign-in attempt gets an error page and the process goes on serving', async () => {
    site = await makeSite();
    const disk = await smallDisk('full', '6m');
    const passwordFile = join(site.dir, 'password');
    await writeFile(passwordFile, 'a password long enough\n');
    appliance = await serveProcess(site, join(disk, 'data'), passwordFile);
    // fill the disk
    await runTimed('dd', ['if=/dev/zero', `of=${join(disk, 'filler')}`, 'bs=64k']);
    for (const password of ['a wrong password', 'a password long enough']) {
      const answer = await curl(['-d', `name=admin&password=${encodeURIComponent(password)}`, `${appliance.url}/ui/login`]);
      expect(answer.timedOut).toBe(false);
      expect(answer.status, password).toBe(507);
      expect(answer.headers.toLowerCase()).toContain('content-type: text/html');
      expect(String(answer.body.text)).toContain('the data directory is full');
      expect(String(answer.body.text)).not.toMatch(/SqliteError|node_modules|\s+at /);
    }
    expect(appliance.child.exitCode).toBeNull();
    expect((await curl([`${appliance.url}/healthz`])).status).toBe(200);
    const ready = await curl([`${appliance.url}/readyz`]);
    expect(ready.status).toBe(503);
    expect((ready.body.checks as { dataDir: string }).dataDir).toContain('ENOSPC');
    expect(appliance.output()).toMatch(/"level":"error","msg":"request failed".*SQLITE_FULL|"level":"error","msg":"request failed"/);
    // space again: signing in works, nothing was lost
    await rm(join(disk, 'filler'));
    expect((await curl([`${appliance.url}/readyz`])).status).toBe(200);
    const signedIn = await curl(['-d', 'name=admin&password=a+password+long+enough', `${appliance.url}/ui/login`]);
    expect(signedIn.status).toBe(303);
  }, 120_000);
});

describe('a chunked upload into a small disk', () => {
  let site: Site;
  let app: Awaited<ReturnType<typeof start>> | undefined;
  afterAll(async () => app?.close());

  it('is refused with 507 as soon as the bundle tells what it needs, like the sized upload', async () => {
    site = await makeSite({ layerSize: 3 * 1024 * 1024 });
    const bundle = await site.bundle({ sequence: 1, name: 'big' });
    const disk = await smallDisk('chunked', '5m');
    app = await start(site, { dataDir: join(disk, 'data') });
    const args = ['-H', `authorization: Bearer ${app.token}`, '-H', 'content-type: application/octet-stream', '--data-binary', `@${bundle}`];
    const chunked = await curl([...args, '-H', 'transfer-encoding: chunked', `${app.url}/api/v1/imports`], 60_000);
    expect(chunked.timedOut).toBe(false);
    expect(chunked.status).toBe(507);
    const error = chunked.body.error as { code: string; message: string; id: string };
    expect(error.code).toBe('INSUFFICIENT_STORAGE');
    expect(error.message).toMatch(/not enough free space/);
    const record = await waitImport(app.url, app.token, error.id);
    expect(record.error?.code).toBe('INSUFFICIENT_STORAGE');
    // no blob was written before the refusal
    expect(record.progress.bytes).toBeLessThan(1024 * 1024);
    const sized = await curl([...args, `${app.url}/api/v1/imports`], 60_000);
    expect(sized.status).toBe(507);
    expect((sized.body.error as { code: string }).code).toBe('INSUFFICIENT_STORAGE');
  }, 180_000);

  it('a disk that fills while the bundle is received: answered 507 at once, the appliance goes on', async () => {
    const disk = await smallDisk('fills', '5m');
    const bundle = await site.bundle({ sequence: 2, name: 'fills' });
    // statfs that claims plenty of room: the up-front checks pass and the writes meet ENOSPC
    const liar = await start(site, { dataDir: join(disk, 'data'), freeBytes: async () => 1e12 });
    try {
      const answer = await curl(['-H', `authorization: Bearer ${liar.token}`, '-H', 'content-type: application/octet-stream', '--data-binary', `@${bundle}`, `${liar.url}/api/v1/imports`], 60_000);
      expect(answer.timedOut).toBe(false);
      expect(answer.status).toBe(507);
      const error = answer.body.error as { code: string; message: string; id: string };
      expect(error.code).toBe('INSUFFICIENT_STORAGE');
      expect(error.message).toContain('filled up');
      expect((await waitImport(liar.url, liar.token, error.id)).state).toBe('failed');
      expect((await curl([`${liar.url}/healthz`])).status).toBe(200);
    } finally {
      await liar.close();
    }
  }, 180_000);
});
