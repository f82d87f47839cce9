/**
 * The fleet page's sign-in and Users routes (src/web, shared with the appliance) on a real SQLite account store,
 * over HTTP: the one-time setup link creates the admin once, the last admin account can be neither demoted nor
 * deleted, a viewer's change is refused, and a deleted account's session ends.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetApp } from '../../bundler/commands/fleet-web.js';
import { ACCOUNT_TABLES, AccountStore } from '../../src/web/accounts.js';
import { hashToken } from '../../src/web/session.js';

let dir: string;
let db: Database.Database;
let accounts: AccountStore;
let server: Server;
let url: string;
const token = randomBytes(24).toString('base64url');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-fleet-web-'));
  db = new Database(join(dir, 'fleet.db'));
  db.exec(ACCOUNT_TABLES);
  accounts = new AccountStore(db);
  accounts.addSetupToken(hashToken(token), new Date(Date.now() + 3600_000));
  const snapshot = { sites: [], byName: new Map(), heads: new Map(), waves: [], generated: new Date(), source: 'test' };
  server = fleetApp({ accounts, snapshot: () => snapshot, now: () => new Date(), secure: false }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  db?.close();
  await rm(dir, { recursive: true, force: true });
});

const post = (path: string, body: Record<string, string>, cookie = '') =>
  fetch(`${url}${path}`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() });

async function session(res: Response): Promise<{ cookie: string; csrf: string }> {
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const page = await (await fetch(`${url}/ui/users`, { headers: { cookie } })).text();
  return { cookie, csrf: /name="csrf-token" content="([^"]+)"/.exec(page)?.[1] ?? '' };
}

describe('the fleet page: setup link and accounts', () => {
  let admin: { cookie: string; csrf: string };

  it('creates the admin account from the setup link, once', async () => {
    expect((await post('/ui/setup', { token, password: 'short' })).status).toBe(400);
    const made = await post('/ui/setup', { token, password: 'the fleet admin password' });
    expect(made.status).toBe(303);
    expect(made.headers.get('set-cookie')).toMatch(/airlock_session=[\w-]+;.*HttpOnly; SameSite=Strict/);
    admin = await session(made);
    expect(admin.csrf).not.toBe('');
    expect(accounts.user('admin')?.role).toBe('admin');
    expect((await post('/ui/setup', { token, password: 'another long password' })).status).toBe(403);
  });

  it('keeps the last admin account, refuses bad input with the reason, and refuses a viewer', async () => {
    const demote = await post('/ui/users', { _csrf: admin.csrf, name: 'admin', role: 'viewer', password: 'the fleet admin password' }, admin.cookie);
    expect(demote.status).toBe(400);
    expect(await demote.text()).toContain('admin is the last admin account');
    const badName = await post('/ui/users', { _csrf: admin.csrf, name: 'Not A Name', role: 'viewer', password: 'x'.repeat(12) }, admin.cookie);
    expect(badName.status).toBe(400);
    expect(await badName.text()).toContain('a name is 1 to 64 of a-z 0-9 . _ -');
    expect((await post('/ui/users', { _csrf: admin.csrf, name: 'vic', role: 'root', password: 'x'.repeat(12) }, admin.cookie)).status).toBe(400);
    expect((await post('/ui/users', { _csrf: admin.csrf, name: 'vic', role: 'viewer', password: 'the viewer password' }, admin.cookie)).status).toBe(200);

    const vic = await session(await post('/ui/login', { name: 'vic', password: 'the viewer password' }));
    expect((await post('/ui/users/admin/delete', { _csrf: vic.csrf }, vic.cookie)).status).toBe(403);
    expect((await post('/ui/users', { _csrf: vic.csrf, name: 'eve', role: 'admin', password: 'x'.repeat(12) }, vic.cookie)).status).toBe(403);
    expect(accounts.user('eve')).toBeUndefined();

    const deleted = await post('/ui/users/vic/delete', { _csrf: admin.csrf }, admin.cookie);
    expect(deleted.status).toBe(303);
    expect(accounts.user('vic')).toBeUndefined();
    const after = await fetch(`${url}/ui/`, { redirect: 'manual', headers: { cookie: vic.cookie } });
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe('/ui/login');
  });
});
