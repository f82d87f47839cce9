/**
 * Accounts without a browser: the one-time setup link printed at first start, sessions' cookie attributes (Secure
 * under HTTPS), and roles on the account pages.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../appliance/context.js';
import { hashPassword } from '../../appliance/http/passwords.js';
import { type Site, makeSite, start } from '../helpers/appliance-fixture.js';
import { run } from '../helpers/exec.js';

let site: Site;
const lines: { msg: string; fields: Record<string, unknown> }[] = [];
const log: Logger = {
  info: (msg, fields = {}) => lines.push({ msg, fields }),
  warn: (msg, fields = {}) => lines.push({ msg, fields }),
  error: (msg, fields = {}) => lines.push({ msg, fields }),
};

beforeAll(async () => {
  site = await makeSite();
});

async function post(url: string, body: Record<string, string>, cookie = ''): Promise<Response> {
  return fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) }, body: new URLSearchParams(body).toString() });
}

describe('first start without --admin-password-file', () => {
  let app: Awaited<ReturnType<typeof start>>;
  afterAll(async () => app?.close());

  it('prints a one-time setup link that creates the admin account and works once', async () => {
    app = await start(site, { log });
    const link = lines.find((l) => typeof l.fields.setup === 'string')?.fields.setup as string;
    expect(link).toMatch(/\/ui\/setup\?token=[\w-]{20,}$/);
    expect(app.ctx.state.accounts.userCount()).toBe(0);
    const token = new URL(link).searchParams.get('token') ?? '';
    expect((await post(`${app.url}/ui/setup`, { token, password: 'short' })).status).toBe(400);
    const made = await post(`${app.url}/ui/setup`, { token, password: 'a long admin password' });
    expect(made.status).toBe(303);
    const cookie = made.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/airlock_session=[\w-]+; Max-Age=\d+; Path=\/; Expires=.*; HttpOnly; SameSite=Strict/);
    expect(cookie).not.toContain('Secure');
    expect(app.ctx.state.accounts.user('admin')?.role).toBe('admin');
    const again = await post(`${app.url}/ui/setup`, { token, password: 'another long password' });
    expect(again.status).toBe(403);
    const page = await fetch(`${app.url}/ui/`, { headers: { cookie: cookie.split(';')[0] ?? '' } });
    expect(await page.text()).toContain('Overview');
  });

  it('lets only an admin manage accounts', async () => {
    app.ctx.state.accounts.putUser('olga', 'operator', await hashPassword('operator password'), new Date());
    const login = await post(`${app.url}/ui/login`, { name: 'olga', password: 'operator password' });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const users = await fetch(`${app.url}/ui/users`, { headers: { cookie } });
    const text = await users.text();
    expect(text).toContain('Only an admin manages accounts');
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(text)?.[1] ?? '';
    const refused = await post(`${app.url}/ui/users`, { _csrf: csrf, name: 'eve', role: 'admin', password: 'x'.repeat(12) }, cookie);
    expect(refused.status).toBe(403);
    expect(app.ctx.state.accounts.user('eve')).toBeUndefined();
  });
});

describe('--admin-password-file', () => {
  it('with a password too short, stops the start-up with the reason and serves nothing', async () => {
    const file = join(site.dir, 'weak-password');
    await run('sh', ['-c', `printf 'short' > ${file}`]);
    await expect(start(site, { adminPasswordFile: file })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('at least 10 characters') });
  });
});

describe('under HTTPS', () => {
  it('marks the session cookie Secure', async () => {
    const key = join(site.dir, 'ui-tls.key');
    const cert = join(site.dir, 'ui-tls.crt');
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    const passwordFile = join(site.dir, 'ui-admin-password');
    await run('sh', ['-c', `printf 'a long admin password' > ${passwordFile}`]);
    const app = await start(site, { tls: { cert: await readFile(cert), key: await readFile(key) }, adminPasswordFile: passwordFile });
    try {
      const { request } = await import('node:https');
      const setCookie = await new Promise<string>((resolve, reject) => {
        const body = new URLSearchParams({ name: 'admin', password: 'a long admin password' }).toString();
        const req = request(`${app.url}/ui/login`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) } }, (res) => {
          res.resume();
          resolve(String(res.headers['set-cookie'] ?? ''));
        });
        req.on('error', reject);
        req.end(body);
      });
      expect(setCookie).toContain('HttpOnly');
      expect(setCookie).toContain('Secure');
      expect(setCookie).toContain('SameSite=Strict');
    } finally {
      await app.close();
    }
  });
});
