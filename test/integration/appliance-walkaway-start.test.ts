/**
 * Start-up and accounts (issue 16 items 7 and 11): every flag, file and the kubeconfig are checked and the port bound
 * before anything is written, so a bad one leaves the data directory as it was and `appliance serve` exits non-zero
 * with the reason; the last admin account cannot be demoted or deleted, and a start with --admin-password-file that
 * finds no admin account restores it.
 */
import { createServer, type Server } from 'node:net';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Site, makeSite, start } from '../helpers/appliance-fixture.js';
import { BINARY } from '../helpers/cli.js';
import { freePort } from '../helpers/registry.js';
import { runTimed } from './appliance-walkaway-helpers.js';

let site: Site;
let passwordFile: string;
const PASSWORD = 'the admin password of this site';

beforeAll(async () => {
  site = await makeSite();
  passwordFile = join(site.dir, 'admin-password');
  await writeFile(passwordFile, `${PASSWORD}\n`);
}, 60_000);

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Names, sizes and modification times of everything under `dir`. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const s = await stat(join(dir, name));
    out.push(`${name} ${s.isDirectory() ? 'dir' : s.size} ${s.mtimeMs}`);
  }
  return out;
}

function serve(dataDir: string, args: string[]) {
  return runTimed(BINARY, ['appliance', 'serve', '--data', dataDir, '--trust', site.trustPath, ...args], 30_000);
}

describe('appliance serve checks everything before writing', () => {
  let busy: Server;
  let busyPort: number;
  beforeAll(async () => {
    busyPort = await freePort();
    busy = createServer();
    await new Promise<void>((r) => busy.listen(busyPort, '127.0.0.1', () => r()));
  });
  afterAll(() => busy?.close());

  const kubeconfigs: [string, string][] = [
    ['not YAML', 'this is: [not a kubeconfig\n'],
    ['YAML without a context', 'hello: world\n'],
    [
      'a missing client certificate',
      'apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nclusters:\n- name: k\n  cluster: {server: "https://127.0.0.1:6443"}\nusers:\n- name: u\n  user: {client-certificate: /nonexistent/client.crt, client-key: /nonexistent/client.key}\n',
    ],
  ];

  it('--listen with a port out of range', async () => {
    const data = join(site.dir, 'no-data-listen');
    const r = await serve(data, ['--listen', '127.0.0.1:99999']);
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('0 to 65535');
    expect(await exists(data)).toBe(false);
  }, 40_000);

  it('a port in use, with a password file that stays usable', async () => {
    const data = join(site.dir, 'no-data-port');
    const r = await serve(data, ['--listen', `127.0.0.1:${busyPort}`, '--admin-password-file', passwordFile]);
    expect(r.timedOut).toBe(false);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('the port is in use');
    expect(await exists(data)).toBe(false);
  }, 40_000);

  for (const [what, text] of kubeconfigs) {
    it(`a kubeconfig with ${what}`, async () => {
      const file = join(site.dir, `kubeconfig-${what.replace(/\W+/g, '-')}`);
      await writeFile(file, text);
      const data = join(site.dir, `no-data-${what.replace(/\W+/g, '-')}`);
      const r = await serve(data, ['--listen', '127.0.0.1:0', '--kubeconfig', file]);
      expect(r.timedOut, 'the appliance started with a bad kubeconfig').toBe(false);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`--kubeconfig ${file} cannot be used`);
      expect(await exists(data)).toBe(false);
    }, 40_000);
  }

  it('a missing kubeconfig, a weak password file, a missing TLS key, a --media that is no directory', async () => {
    const weak = join(site.dir, 'weak');
    await writeFile(weak, 'short\n');
    const cases: [string[], string][] = [
      [['--kubeconfig', join(site.dir, 'no-such-kubeconfig')], '--kubeconfig'],
      [['--admin-password-file', weak], 'at least 10 characters'],
      [['--tls-cert', weak, '--tls-key', join(site.dir, 'no-such-key')], '--tls-key'],
      [['--media', weak], 'is not a directory'],
      [['--body-idle-timeout', '0s'], '--body-idle-timeout'],
    ];
    for (const [args, reason] of cases) {
      const data = join(site.dir, 'no-data-misc');
      const r = await serve(data, ['--listen', '127.0.0.1:0', ...args]);
      expect(r.timedOut, args.join(' ')).toBe(false);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toContain(reason);
      expect(await exists(data), args.join(' ')).toBe(false);
    }
  }, 120_000);

  it('leaves an existing data directory unchanged', async () => {
    const data = join(site.dir, 'data-existing');
    const first = await start(site, { dataDir: data, adminPasswordFile: passwordFile });
    await first.close();
    const before = await snapshot(data);
    const bad = join(site.dir, 'kubeconfig-not-YAML');
    for (const args of [['--listen', `127.0.0.1:${busyPort}`], ['--listen', '127.0.0.1:0', '--kubeconfig', bad]]) {
      const r = await serve(data, args);
      expect(r.code).not.toBe(0);
    }
    expect(await snapshot(data)).toEqual(before);
  }, 60_000);
});

async function signIn(url: string, name: string, password: string): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${url}/ui/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ name, password }).toString() });
  expect(res.status).toBe(303);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const page = await (await fetch(`${url}/ui/users`, { headers: { cookie } })).text();
  return { cookie, csrf: /name="csrf-token" content="([^"]+)"/.exec(page)?.[1] ?? '' };
}

async function form(url: string, path: string, session: { cookie: string; csrf: string }, body: Record<string, string>): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', redirect: 'manual', headers: { cookie: session.cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: session.csrf, ...body }).toString() });
  return { status: res.status, text: await res.text() };
}

describe('the last admin account', () => {
  const data = join(tmpdir(), `walkaway-admin-${process.pid}`);
  afterAll(async () => rm(data, { recursive: true, force: true }));
  let app: Awaited<ReturnType<typeof start>> | undefined;
  afterAll(async () => app?.close());

  it('cannot demote or delete itself; another admin can take over', async () => {
    await mkdir(data, { recursive: true });
    app = await start(site, { dataDir: data, adminPasswordFile: passwordFile });
    const admin = await signIn(app.url, 'admin', PASSWORD);
    const demote = await form(app.url, '/ui/users', admin, { name: 'admin', role: 'viewer', password: PASSWORD });
    expect(demote.status).toBe(400);
    expect(demote.text).toContain('admin is the last admin account');
    expect(app.ctx.state.accounts.user('admin')?.role).toBe('admin');

    expect((await form(app.url, '/ui/users', admin, { name: 'boss', role: 'admin', password: 'the password of boss' })).status).toBe(200);
    expect((await form(app.url, '/ui/users', admin, { name: 'admin', role: 'viewer', password: PASSWORD })).status).toBe(200);
    expect(app.ctx.state.accounts.user('admin')?.role).toBe('viewer');
    const boss = await signIn(app.url, 'boss', 'the password of boss');
    const self = await form(app.url, '/ui/users', boss, { name: 'boss', role: 'operator', password: 'the password of boss' });
    expect(self.status).toBe(400);
    expect(self.text).toContain('boss is the last admin account');
    const gone = await form(app.url, '/ui/users/boss/delete', boss, {});
    expect(gone.status).toBe(400);
    expect(app.ctx.state.accounts.user('boss')?.role).toBe('admin');
    expect(() => app?.ctx.state.accounts.deleteUser('boss')).toThrow(/last admin account/);
  }, 60_000);

  it('a start with --admin-password-file that finds no admin account restores it', async () => {
    await app?.close();
    app = undefined;
    // an admin lost some other way (an older version allowed demoting the last one)
    const db = new Database(join(data, 'state.db'));
    db.prepare("UPDATE users SET role = 'viewer'").run();
    db.close();
    const without = await start(site, { dataDir: data });
    expect(without.ctx.state.accounts.adminCount()).toBe(0);
    await without.close();
    app = await start(site, { dataDir: data, adminPasswordFile: passwordFile });
    expect(app.ctx.state.accounts.user('admin')?.role).toBe('admin');
    const admin = await signIn(app.url, 'admin', PASSWORD);
    const users = await fetch(`${app.url}/ui/users`, { headers: { cookie: admin.cookie } });
    expect(await users.text()).not.toContain('Only an admin manages accounts');
  }, 60_000);
});
