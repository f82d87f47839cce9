/**
 * The fleet page in Chromium, served by the built `airlock fleet serve` from a folder of 250 receipts signed by
 * real keys: sign-in as on the appliance, the states and wave progress, sites grouped by a label, paging, a site's
 * detail (clusters, drifted objects by name, last report, trust), an untrusted site, the Users page shared with the
 * appliance (an admin adds a viewer, who cannot add accounts), changes refused without their CSRF token (also
 * from curl), and nothing loaded from anywhere else.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, publicPart } from '../../keys/key-file.js';
import { CONTENT_SECURITY_POLICY } from '../../src/ui/assets.js';
import { launchChromium } from '../helpers/browser.js';
import { BINARY } from '../helpers/cli.js';
import { run } from '../helpers/exec.js';
import { receiptText } from '../integration/fleet-receipts.js';

const SHOTS = join(process.cwd(), 'test-artifacts', 'screenshots');
const PASSWORD = 'correct horse battery';
const ROOT = `sha256:${'c'.repeat(64)}`;
const SITES = 250;
let work: string;
let server: ChildProcess;
let url: string;
let browser: Browser;
const foreign: string[] = [];

const region = (i: number) => ['eu', 'us', 'apac'][i % 3] as string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-fleet-page-'));
  await mkdir(join(work, 'receipts'));
  const lines: string[] = [];
  const now = new Date();
  for (let i = 0; i < SITES; i++) {
    const name = `store-${String(i).padStart(4, '0')}`;
    const key = generateKey(name);
    lines.push(`  - {name: ${name}, labels: {region: ${region(i)}${i < 5 ? ', ring: canary' : ''}}, key: ${publicPart(key).public}}`);
    if (i === 7) continue; // never reports
    const signer = i === 9 ? generateKey('impostor') : key;
    const health = i === 3 ? 'Degraded' : 'Healthy';
    await writeFile(join(work, 'receipts', `${name}.json`), receiptText(signer, { site: name, created: new Date(now.getTime() - 60_000), root: ROOT, health, drifted: i === 3 ? 3 : 0, ...(i === 3 ? { driftedObjects: ['ConfigMap pos/settings', 'Deployment pos/web'] } : {}), clusters: ['pos', 'cameras'], ...(i === 3 ? { reason: 'Deployment pos/web: 0 of 2 replicas available' } : {}) }));
  }
  await writeFile(join(work, 'fleet.yaml'), `kind: Fleet\nsites:\n${lines.join('\n')}\nwaves:\n  - {name: canary, selector: {matchLabels: {ring: canary}}, gate: {healthy: 100%, soak: 30m}}\n  - {name: everyone, selector: {}}\n`);
  await writeFile(join(work, 'admin-password'), `${PASSWORD}\n`);
  server = spawn(process.execPath, [BINARY, 'fleet', 'serve', '-f', join(work, 'fleet.yaml'), '--receipts', join(work, 'receipts'), '--data', join(work, 'data'), '--listen', '127.0.0.1:0', '--admin-password-file', join(work, 'admin-password')], { stdio: ['ignore', 'ignore', 'pipe'] });
  url = await new Promise<string>((resolve, reject) => {
    let err = '';
    server.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /fleet page: (http:\/\/127\.0\.0\.1:\d+)\/ui\//.exec(err);
      if (m?.[1]) resolve(m[1]);
    });
    server.once('exit', (code) => reject(new Error(`fleet serve exited ${code}: ${err}`)));
  });
  await mkdir(SHOTS, { recursive: true });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('request', (r) => {
    if (!r.url().startsWith(url)) foreign.push(r.url());
  });
  return page;
}

describe('fleet page', () => {
  let page: Page;

  it('signs in as on the appliance and shows states, wave progress and sites grouped by a label', async () => {
    page = await newPage();
    await page.goto(`${url}/ui/`);
    expect(page.url()).toBe(`${url}/ui/login`);
    await page.fill('#name', 'admin');
    await page.fill('#password', 'wrong password!');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Sign in")')]);
    await expect(page.textContent('main')).resolves.toContain('Wrong name or password.');
    await page.fill('#name', 'admin');
    await page.fill('#password', PASSWORD);
    const [res] = await Promise.all([page.waitForNavigation(), page.click('button:has-text("Sign in")')]);
    expect(res?.status()).toBe(200);
    expect(page.url()).toBe(`${url}/ui/`);
    const again = await page.goto(`${url}/ui/`);
    expect(again?.headers()['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect((await page.context().cookies()).find((c) => c.name === 'airlock_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    const summary = (await page.textContent('#summary')) ?? '';
    expect(summary).toMatch(/Sites\s*250/);
    expect(summary).toMatch(/current 247/);
    expect(summary).toMatch(/degraded 1/);
    expect(summary).toMatch(/never-reported 1/);
    expect(summary).toMatch(/untrusted 1/);
    const waves = await page.$$eval('#waves tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim())));
    expect(waves).toEqual([
      ['canary', '5', '4', '0', '1', '0', '0', '0', '80%'],
      ['everyone', '245', '243', '0', '0', '0', '1', '1', '99%'],
    ]);
    const groups = await page.$$eval('#groups tbody tr td:first-child', (tds) => tds.map((td) => td.textContent?.trim()));
    expect(groups).toEqual(['apac', 'eu', 'us']);
    await page.screenshot({ path: join(SHOTS, 'fleet-overview.png'), fullPage: true });
  });

  it('lists the sites of a group a page at a time', async () => {
    await Promise.all([page.waitForNavigation(), page.click('#groups a:has-text("eu")')]);
    expect(await page.textContent('#count')).toMatch(/^84 of 250 site\(s\) with region=eu; page 1 of 1$/);
    await page.goto(`${url}/ui/sites`);
    expect(await page.textContent('#count')).toMatch(/^250 of 250 site\(s\); page 1 of 3$/);
    expect(await page.$$eval('#sites tbody tr', (trs) => trs.length)).toBe(100);
    await Promise.all([page.waitForNavigation(), page.click('a[rel=next]')]);
    await Promise.all([page.waitForNavigation(), page.click('a[rel=next]')]);
    expect(await page.textContent('#count')).toMatch(/page 3 of 3$/);
    expect(await page.$$eval('#sites tbody tr', (trs) => trs.length)).toBe(50);
    await page.selectOption('#state', 'untrusted');
    await Promise.all([page.waitForNavigation(), page.click('#filter button')]);
    expect(await page.$$eval('#sites tbody tr td:first-child', (tds) => tds.map((td) => td.textContent?.trim()))).toEqual(['store-0009']);
  });

  it("shows a site's clusters, drift, last report and trust; an untrusted one says why", async () => {
    await page.goto(`${url}/ui/sites/store-0003`);
    const facts = (await page.textContent('#site')) ?? '';
    expect(facts).toMatch(/State\s*degraded/);
    expect(facts).toMatch(/Wave\s*canary/);
    expect(facts).toMatch(/verified signed by appliance/);
    expect(facts).toMatch(/Last report\s*1 minute ago/);
    const clusters = await page.$$eval('#clusters tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim())));
    expect(clusters.map((c) => [c[0], c[2], c[6], c[10]])).toEqual([
      ['pos', 'degraded', 'Degraded', 'Deployment pos/web: 0 of 2 replicas available'],
      ['cameras', 'degraded', 'Degraded', 'Deployment pos/web: 0 of 2 replicas available'],
    ]);
    // under each cluster: the count, the objects the receipt names, and how many more it counted
    const drift = await page.$$eval('#clusters tbody tr', (trs) =>
      trs.map((tr) => {
        const cell = tr.querySelector('td[data-label="Drifted objects"]');
        return [cell?.querySelector('.drifted-count')?.textContent, [...(cell?.querySelectorAll('.drifted-object') ?? [])].map((d) => d.textContent), cell?.querySelector('.drifted-more')?.textContent];
      }),
    );
    expect(drift).toEqual([
      ['3', ['ConfigMap pos/settings', 'Deployment pos/web'], 'and 1 more'],
      ['3', ['ConfigMap pos/settings', 'Deployment pos/web'], 'and 1 more'],
    ]);
    await page.screenshot({ path: join(SHOTS, 'fleet-site.png'), fullPage: true });
    await page.goto(`${url}/ui/sites/store-0009`);
    expect(await page.textContent('#site')).toMatch(/untrusted .*not by a trusted appliance key/);
  });

  it('lets an admin add a viewer on the Users page; the viewer signs in and cannot add accounts', async () => {
    await page.goto(`${url}/ui/`);
    await Promise.all([page.waitForNavigation(), page.click('nav a:has-text("Users")')]);
    expect(page.url()).toBe(`${url}/ui/users`);
    await page.fill('#u-name', 'vera');
    await page.selectOption('#u-role', 'viewer');
    await page.fill('#u-password', 'viewer password 1');
    const [saved] = await Promise.all([page.waitForNavigation(), page.click('#user-form button')]);
    expect(saved?.status()).toBe(200);
    expect(await page.textContent('#users-message')).toBe('Saved vera (viewer).');
    expect(await page.$$eval('#users tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 2).map((td) => td.textContent?.trim())))).toEqual([
      ['admin', 'admin'],
      ['vera', 'viewer'],
    ]);

    const viewer = await newPage();
    await viewer.goto(`${url}/ui/login`);
    await viewer.fill('#name', 'vera');
    await viewer.fill('#password', 'viewer password 1');
    await Promise.all([viewer.waitForNavigation(), viewer.click('button:has-text("Sign in")')]);
    expect(viewer.url()).toBe(`${url}/ui/`);
    expect(await viewer.textContent('nav')).toContain('vera (viewer)');
    await viewer.goto(`${url}/ui/users`);
    expect(await viewer.$('#user-form')).toBeNull();
    expect(await viewer.textContent('main')).toContain('Only an admin manages accounts.');
    // with her own session's CSRF token, a viewer's POST is still refused for its role
    const csrf = (await viewer.getAttribute('meta[name="csrf-token"]', 'content')) ?? '';
    expect(csrf).not.toBe('');
    const refused = await viewer.request.post(`${url}/ui/users`, { form: { _csrf: csrf, name: 'eve', role: 'admin', password: 'x'.repeat(12) }, maxRedirects: 0 });
    expect(refused.status()).toBe(403);
    expect(await refused.text()).toContain('This needs the admin role; your account has viewer.');
    const deleted = await viewer.request.post(`${url}/ui/users/vera/delete`, { form: { _csrf: csrf }, maxRedirects: 0 });
    expect(deleted.status()).toBe(403);
    await viewer.context().close();
    await page.goto(`${url}/ui/users`);
    expect(await page.$$eval('#users tbody tr td:first-child', (tds) => tds.map((td) => td.textContent?.trim()))).toEqual(['admin', 'vera']);
    await page.screenshot({ path: join(SHOTS, 'fleet-users.png'), fullPage: true });
  });

  it("refuses curl's POST /ui/users without the CSRF token, with the admin's own session cookie", async () => {
    const cookie = (await page.context().cookies()).find((c) => c.name === 'airlock_session')?.value ?? '';
    expect(cookie).not.toBe('');
    const answer = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-b', `airlock_session=${cookie}`, '--data-urlencode', 'name=mallory', '--data-urlencode', 'role=admin', '--data-urlencode', `password=${'x'.repeat(12)}`, `${url}/ui/users`]);
    expect(answer.trim()).toBe('403');
    await page.goto(`${url}/ui/users`);
    expect(await page.textContent('#users')).not.toContain('mallory');
  });

  it('refuses a change without the CSRF token, signs out with it, and loads nothing from elsewhere', async () => {
    const refused = await page.request.post(`${url}/ui/logout`, { form: { _csrf: 'nope' }, maxRedirects: 0 });
    expect(refused.status()).toBe(403);
    await page.goto(`${url}/ui/`);
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Sign out")')]);
    expect(page.url()).toBe(`${url}/ui/login`);
    await page.goto(`${url}/ui/sites`);
    expect(page.url()).toBe(`${url}/ui/login`);
    expect(foreign).toEqual([]);
  });
});
