/**
 * The web UI in a real browser (Debian's Chromium driven by playwright-core): sign in, upload a bundle and watch it
 * reach applied, read the verification report, see it in the history, re-apply an earlier bundle, a viewer refused
 * an import, a POST without the CSRF token refused, a wrong password many times throttled, nothing loaded from
 * anywhere but the appliance. A screenshot of each page goes to test-artifacts/screenshots/.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY } from '../../appliance/ui/router.js';
import { type Site, makeSite, start } from '../helpers/appliance-fixture.js';

const SHOTS = join(process.cwd(), 'test-artifacts', 'screenshots');
const ADMIN_PASSWORD = 'correct horse battery';
let site: Site;
let app: Awaited<ReturnType<typeof start>>;
let browser: Browser;
const foreign: string[] = [];

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.on('request', (r) => {
    if (!r.url().startsWith(app.url)) foreign.push(r.url());
  });
  page.on('dialog', (d) => void d.accept());
  return page;
}

async function signIn(page: Page, name: string, password: string): Promise<number> {
  await page.goto(`${app.url}/ui/login`);
  await page.fill('#name', name);
  await page.fill('#password', password);
  const [response] = await Promise.all([page.waitForNavigation(), page.click('button:has-text("Sign in")')]);
  return response?.status() ?? 0;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function waitApplied(page: Page): Promise<void> {
  await page.waitForSelector('#live[data-state="applied"]', { timeout: 30_000 });
}

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  site = await makeSite();
  const passwordFile = join(site.dir, 'admin-password');
  await writeFile(passwordFile, `${ADMIN_PASSWORD}\n`);
  app = await start(site, { adminPasswordFile: passwordFile });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('web UI', () => {
  let admin: Page;

  it('signs in, and serves every page with its own assets under a strict Content Security Policy', async () => {
    admin = await newPage();
    await admin.goto(`${app.url}/ui/`);
    expect(admin.url()).toBe(`${app.url}/ui/login`);
    await shot(admin, 'login');
    expect(await signIn(admin, 'admin', ADMIN_PASSWORD)).toBe(200);
    expect(admin.url()).toBe(`${app.url}/ui/`);
    await expect(admin.textContent('main')).resolves.toContain('No bundle imported yet');
    const res = await admin.goto(`${app.url}/ui/`);
    expect(res?.headers()['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    const cookies = await admin.context().cookies();
    expect(cookies.find((c) => c.name === 'airlock_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  });

  it('uploads a bundle, shows the progress reach applied and the verification report', async () => {
    const file = await site.bundle({ sequence: 1 });
    await admin.goto(`${app.url}/ui/import`);
    await shot(admin, 'import');
    await admin.setInputFiles('#upload input[type=file]', file);
    await Promise.all([admin.waitForURL(/\/ui\/imports\/imp-/), admin.click('#upload button')]);
    await waitApplied(admin);
    const report = await admin.textContent('#report');
    expect(report).toContain(site.trust.release[0]?.keyid);
    expect(report).toContain('sequence 1');
    expect(report).toContain('team/app:1.0@sha256:');
    expect(report).toMatch(/Objects added\s*ConfigMap a/);
    await shot(admin, 'import-report');
  });

  it('imports a second bundle from the media directory, reporting what changed', async () => {
    await site.commit({ 'clusters/store/cm2.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n' }, 'two');
    await site.bundle({ sequence: 2, images: ['team/app:1.0', 'team/worker:2.0'] });
    await admin.goto(`${app.url}/ui/import`);
    await admin.selectOption('#media select', 'seq-2.airlock');
    await Promise.all([admin.waitForURL(/\/ui\/imports\/imp-/), admin.click('#media button')]);
    await waitApplied(admin);
    const report = (await admin.textContent('#report')) ?? '';
    expect(report).toMatch(/Images added\s*team\/worker:2\.0@sha256:/);
    expect(report).toMatch(/Images removed\s*team\/worker:1\.0@sha256:/);
    expect(report).toMatch(/Objects added\s*ConfigMap b/);
  });

  it('shows the history and re-applies an earlier bundle after a confirmation', async () => {
    await admin.goto(`${app.url}/ui/history`);
    const text = (await admin.textContent('main')) ?? '';
    expect(text).toContain('in force');
    expect((await admin.$$('text=Re-apply')).length).toBe(1);
    await shot(admin, 'history');
    await Promise.all([admin.waitForURL(/\/ui\/imports\/imp-/), admin.click('text=Re-apply')]);
    await waitApplied(admin);
    expect(await admin.textContent('#report')).toContain('sequence 1');
    await admin.goto(`${app.url}/ui/`);
    expect(await admin.textContent('main')).toMatch(/Sequence\s*1/);
    await shot(admin, 'overview');
  });

  it('renders the cluster, registry, trust, audit and users pages', async () => {
    for (const [path, expected] of [
      ['cluster', 'no --kubeconfig'],
      ['registry', 'team/app'],
      ['trust', 'release keys: 1 of 1 must sign'],
      ['audit', 'bundle.reapplied'],
      ['users', 'admin'],
    ] as const) {
      await admin.goto(`${app.url}/ui/${path}`);
      expect(await admin.textContent('main')).toContain(expected);
      await shot(admin, path);
    }
  });

  it('resumes an upload after a page reload when the same file is picked again', async () => {
    const file = await site.bundle({ sequence: 3, name: 'resume' });
    const bytes = await readFile(file);
    const headers = { authorization: `Bearer ${app.token}` };
    const created = (await (await fetch(`${app.url}/api/v1/uploads`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ size: bytes.length }) })).json()) as { id: string; importId: string };
    const first = await fetch(`${app.url}/api/v1/uploads/${created.id}`, { method: 'PATCH', headers: { ...headers, 'upload-offset': '0' }, body: bytes.subarray(0, 20_000) as unknown as BodyInit });
    expect(first.status).toBe(200);
    // the page that started it was reloaded: what it kept is the upload's id, under the file's identity
    await admin.goto(`${app.url}/ui/import`);
    await admin.setInputFiles('#upload input[type=file]', file);
    await admin.evaluate((id) => {
      const f = (document.querySelector('#upload input[type=file]') as HTMLInputElement).files?.[0];
      if (f) window.localStorage.setItem(`airlock-upload:${f.name}:${f.size}:${f.lastModified}`, id);
    }, created.id);
    await Promise.all([admin.waitForURL(`${app.url}/ui/imports/${created.importId}`), admin.click('#upload button')]);
    await waitApplied(admin);
    expect(await admin.textContent('#report')).toContain('sequence 3');
  });

  it('refuses a POST without the CSRF token of the session', async () => {
    const status = await admin.evaluate(async () => (await fetch('/api/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: 'seq-1.airlock' }) })).status);
    expect(status).toBe(403);
    const form = await admin.context().request.post(`${app.url}/ui/users`, { form: { name: 'mallory', role: 'admin', password: 'x'.repeat(12) } });
    expect(form.status()).toBe(403);
    expect(app.ctx.state.accounts.user('mallory')).toBeUndefined();
  });

  it('lets an admin add a viewer, who can look but not import or re-apply', async () => {
    await admin.goto(`${app.url}/ui/users`);
    await admin.fill('#u-name', 'vera');
    await admin.selectOption('#u-role', 'viewer');
    await admin.fill('#u-password', 'viewer password 1');
    await admin.click('text=Save');
    expect(await admin.textContent('main')).toContain('Saved vera (viewer)');

    const viewer = await newPage();
    expect(await signIn(viewer, 'vera', 'viewer password 1')).toBe(200);
    await viewer.goto(`${app.url}/ui/import`);
    await viewer.setInputFiles('#upload input[type=file]', join(site.media, 'seq-2.airlock'));
    await viewer.click('#upload button');
    await viewer.waitForFunction(() => document.getElementById('upload-note')?.textContent?.includes('refused'));
    expect(await viewer.textContent('#upload-note')).toContain('refused (403)');
    await viewer.goto(`${app.url}/ui/history`);
    expect(await viewer.$$('text=Re-apply')).toHaveLength(0);
    await viewer.close();
  });

  it('reads on a tablet: no page is wider than the screen', async () => {
    const context = await browser.newContext({ viewport: { width: 768, height: 1024 } });
    const tablet = await context.newPage();
    tablet.on('dialog', (d) => void d.accept());
    expect(await signIn(tablet, 'admin', ADMIN_PASSWORD)).toBe(200);
    for (const path of ['', 'import', 'history', 'cluster', 'registry', 'trust', 'audit', 'users']) {
      await tablet.goto(`${app.url}/ui/${path}`);
      const overflow = await tablet.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `/ui/${path}`).toBeLessThanOrEqual(0);
    }
    await tablet.goto(`${app.url}/ui/`);
    await shot(tablet, 'overview-tablet');
    await context.close();
  });

  it('throttles a wrong password tried many times', async () => {
    const page = await newPage();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push(await signIn(page, 'admin', 'not the password'));
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses[5]).toBe(429);
    expect(await page.textContent('main')).toContain('Too many failed sign-ins');
    // the right password is refused too while throttled
    expect(await signIn(page, 'admin', ADMIN_PASSWORD)).toBe(429);
  });

  it('loaded nothing from anywhere else', () => {
    expect(foreign).toEqual([]);
  });
});
