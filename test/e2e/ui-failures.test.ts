/**
 * The web UI in real Chromium when things go wrong or run out: a refused upload shows its import's error code and
 * message with a link to the import; a failed import's page shows the failure (code, message, stage) and what
 * stays in force; the Overview labels its badges, shows the data disk, the time since the last import, and the
 * bundle's and the trust root's expiry — a warning within 30 days, an error once expired (imports refused).
 * The appliance's clock is moved (its `now`), so the trust root made today is near or past its expiry.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.js';
import { type Site, importPath, makeSite, start } from '../helpers/appliance-fixture.js';

const DAY = 86400_000;
const PASSWORD = 'failure pages password';
let site: Site;
let app: Awaited<ReturnType<typeof start>>;
let browser: Browser;
let page: Page;
/** The appliance's clock runs this far ahead of the real one: the trust root (365 days) expires in 25 days. */
let ahead = 340 * DAY;
const now = () => new Date(Date.now() + ahead);

async function signIn(p: Page, url: string): Promise<void> {
  await p.goto(`${url}/ui/login`);
  await p.fill('#name', 'admin');
  await p.fill('#password', PASSWORD);
  await Promise.all([p.waitForURL(`${url}/ui/`), p.click('button:has-text("Sign in")')]);
}

beforeAll(async () => {
  site = await makeSite();
  const passwordFile = join(site.dir, 'admin-password');
  await writeFile(passwordFile, PASSWORD);
  app = await start(site, { adminPasswordFile: passwordFile, now });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, app.url);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('web UI, failures and expiry', () => {
  it('a refused upload shows the import’s error and links to the import, whose page shows the failure and what stays in force', async () => {
    await site.bundle({ sequence: 1, now: now() });
    await site.bundle({ sequence: 2, now: now(), expires: '20d' });
    expect(await importPath(app.url, app.token, 'seq-2.airlock')).toMatchObject({ state: 'applied' });

    // sequence 1 after 2: a replay, refused by rollback protection
    await page.goto(`${app.url}/ui/import`);
    await page.setInputFiles('#upload input[type=file]', join(site.media, 'seq-1.airlock'));
    await page.click('#upload button');
    await page.waitForSelector('#upload-note a');
    const note = (await page.textContent('#upload-note')) ?? '';
    expect(note).toMatch(/^The import failed: ROLLBACK: .+/);
    expect(note).not.toContain('the import this upload fed has ended');
    const failed = app.ctx.state.listImports(1)[0];
    expect(failed).toMatchObject({ state: 'failed', error: { code: 'ROLLBACK' } });
    expect(await page.getAttribute('#upload-note a', 'href')).toBe(`/ui/imports/${failed?.id}`);
    expect(await page.getAttribute('#upload-note', 'role')).toBe('alert');

    await Promise.all([page.waitForURL(`${app.url}/ui/imports/${failed?.id}`), page.click('#upload-note a')]);
    const failure = (await page.textContent('#failure')) ?? '';
    expect(failure).toContain(`failed at the ${failed?.stage} stage`);
    expect(failure).toMatch(/Code\s*ROLLBACK/);
    expect(failure).toContain(failed?.error?.message);
    const main = (await page.textContent('main')) ?? '';
    expect(main).not.toContain('nothing in force before');
    // what stays in force is sequence 2, named, on its channel
    const inForce = app.ctx.state.status()[0];
    expect(await page.textContent('#in-force')).toContain(`ChannelstableBundlestore ${inForce?.rootDigest.slice(0, 19)}Sequence2`);
    expect(await page.textContent('#live-stages .error')).toContain('failed here');
    await page.screenshot({ path: join(process.cwd(), 'test-artifacts', 'screenshots', 'import-failed.png'), fullPage: true });
  }, 120_000);

  it('a file that is no bundle fails before any statement, and its page says nothing of the bundle is known', async () => {
    await page.goto(`${app.url}/ui/import`);
    await page.setInputFiles('#upload input[type=file]', { name: 'junk.airlock', mimeType: 'application/octet-stream', buffer: randomBytes(64 * 1024) });
    await page.click('#upload button');
    await page.waitForSelector('#upload-note a');
    const failed = app.ctx.state.listImports(1)[0];
    expect(failed?.state).toBe('failed');
    expect(await page.textContent('#upload-note')).toContain(`The import failed: ${failed?.error?.code}: ${failed?.error?.message}`);
    await page.goto(`${app.url}/ui/imports/${failed?.id}`);
    expect(await page.textContent('#report')).toContain('stopped before the bundle\'s signed statement was accepted');
    expect(await page.textContent('#in-force')).toMatch(/Bundlestore sha256:[0-9a-f]{12}Sequence2/);
  }, 120_000);

  it('the Overview labels its badges and shows the data disk, the time since the last import and both expiries', async () => {
    ahead += 3 * 3600_000 + 60_000; // three hours later
    await page.goto(`${app.url}/ui/`);
    const badges = await page.$$eval('.badge', (els) => els.map((e) => e.textContent?.trim()));
    expect(badges).toEqual(expect.arrayContaining(['Sync: Unknown', 'Health: Unknown', 'Outcome: failed']));
    expect(await page.textContent('#site')).toMatch(/Data disk\s*[\d.]+ [KMGT]?i?B free of [\d.]+ [KMGT]?i?B/);
    expect(Number(await page.getAttribute('#disk-meter', 'max'))).toBeGreaterThan(0);
    const age = await page.$eval('#last-import-age time', (t) => ({ text: t.textContent, title: t.getAttribute('title'), datetime: t.getAttribute('datetime') }));
    expect(age.text).toBe('3 hours ago');
    const last = app.ctx.state.listImports(1)[0];
    expect(age.datetime).toBe(new Date(last?.finishedAt ?? '').toISOString());
    expect(age.title).toBe(`${(last?.finishedAt ?? '').slice(0, 19).replace('T', ' ')} UTC`);
    // the trust root expires in 25 days (less 3 hours): a warning, not an error
    expect(await page.getAttribute('#trust-expiry', 'class')).toBe('notice warn');
    expect(await page.textContent('#trust-expiry')).toMatch(/^The trust root expires in 24 days: install its successor before then/);
    // the bundle in force was made to expire in 20 days
    expect(await page.textContent('main')).toContain('Channel stable: the bundle in force expires in 19 days: import a newer one before then.');
    await page.screenshot({ path: join(process.cwd(), 'test-artifacts', 'screenshots', 'overview-warnings.png'), fullPage: true });
  }, 120_000);

  it('past the trust root’s expiry the Overview, Import and Trust pages say so as an error: new imports are refused', async () => {
    ahead = 400 * DAY;
    await signIn(page, app.url); // the session, made on the appliance's clock, has expired too
    for (const path of ['', 'import', 'trust']) {
      await page.goto(`${app.url}/ui/${path}`);
      expect(await page.getAttribute('#trust-expiry', 'class'), path).toBe('notice error');
      expect(await page.getAttribute('#trust-expiry', 'role'), path).toBe('alert');
      expect(await page.textContent('#trust-expiry'), path).toMatch(/^The trust root expired 3[45] days ago: new imports are refused/);
    }
    await page.goto(`${app.url}/ui/`);
    expect(await page.textContent('main')).toMatch(/Channel stable: the bundle in force expired \d+ days ago: import a newer one\./);
    await page.screenshot({ path: join(process.cwd(), 'test-artifacts', 'screenshots', 'overview-expired.png'), fullPage: true });
  }, 120_000);
});
