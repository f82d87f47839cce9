/**
 * Every page of the web UI fits the screen in real Chromium at 1280 px (a laptop), 768 px (a tablet, just above the
 * width where tables become cards) and 390 px (a phone), with data in its tables: long digests and error messages,
 * a long repository name, dozens of imports, a hundred audit entries. Fitting means no horizontal scrolling
 * (`scrollWidth <= innerWidth`) and no element reaching past the right edge (nothing cut). The audit log and the
 * history come in pages. Screenshots of the Overview and of imports' pages at each width go to
 * test-artifacts/screenshots/ (docs/screenshots/ is refreshed from them).
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../appliance/http/passwords.js';
import { AUDIT_PAGE, HISTORY_PAGE } from '../../appliance/ui/pages.js';
import { launchChromium } from '../helpers/browser.js';
import { type Site, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { tagLayout, writeImage, writeLayer } from '../helpers/images.js';

const SHOTS = join(process.cwd(), 'test-artifacts', 'screenshots');
const PASSWORD = 'layout pages password';
const LONG_REPO = 'platform/observability/a-component-with-a-rather-long-name/collector-for-store-metrics-and-logs';
const WIDTHS = [1280, 768, 390] as const;
let site: Site;
let app: Awaited<ReturnType<typeof start>>;
let browser: Browser;
let appliedId = '';
let failedId = '';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  site = await makeSite();
  await tagLayout(site.layout, await writeImage(site.layout, [await writeLayer(site.layout, 5_000)]), `${LONG_REPO}:1.0.0-rc.1-build.20261130.${hex('tag').slice(0, 16)}`);
  const passwordFile = join(site.dir, 'admin-password');
  await writeFile(passwordFile, PASSWORD);
  app = await start(site, { adminPasswordFile: passwordFile });
  browser = await launchChromium();

  await site.bundle({ sequence: 1, images: ['team/app:1.0', 'team/worker:1.0'] });
  await site.bundle({ sequence: 2, images: ['team/app:1.0', 'team/worker:2.0', `${LONG_REPO}:1.0.0-rc.1-build.20261130.${hex('tag').slice(0, 16)}`], expires: '20d' });
  expect(await importPath(app.url, app.token, 'seq-1.airlock')).toMatchObject({ state: 'applied' });
  const applied = await importPath(app.url, app.token, 'seq-2.airlock');
  expect(applied).toMatchObject({ state: 'applied' });
  appliedId = applied.id;
  const failed = await importPath(app.url, app.token, 'seq-1.airlock'); // a replay: refused
  expect(failed).toMatchObject({ state: 'failed', error: { code: 'ROLLBACK' } });
  failedId = failed.id;

  // History: dozens of failed imports with long sources and messages, recorded as the pipeline records them
  const state = app.ctx.state;
  for (let i = 0; i < 40; i++) {
    const id = `imp-20261130${String(100000 + i)}-${hex(String(i)).slice(0, 6)}`;
    state.createImport(id, join(site.media, 'a-deep-directory-of-removable-media', `store-release-${i}-of-many-with-a-long-file-name.airlock`), 123_456_789, new Date());
    state.failImport(id, 'DIGEST_MISMATCH', `blob sha256:${hex(`got ${i}`)} of image ${LONG_REPO}:1.0 does not match its descriptor sha256:${hex(`want ${i}`)}`, new Date());
  }
  // Audit: more than four pages, with long details
  for (let i = 0; i < 4 * AUDIT_PAGE + 3; i++) {
    state.audit('operator-with-a-long-account-name', 'import.started', { id: `imp-${i}`, source: join(site.media, `release-${i}.airlock`), root: `sha256:${hex(`root ${i}`)}` }, new Date());
  }
  // Users: a name of the longest allowed length
  state.accounts.putUser('a'.repeat(30) + '.long-name_of-an-operator-account', 'operator', await hashPassword('operator password'), new Date());
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

async function signedIn(width: number): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${app.url}/ui/login`);
  await page.fill('#name', 'admin');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${app.url}/ui/`), page.click('button:has-text("Sign in")')]);
  return page;
}

/** How far the page reaches past the screen's right edge, and the first elements that do (none is the aim). */
function overflow(page: Page): Promise<{ scrollWidth: number; innerWidth: number; past: string[] }> {
  return page.evaluate(() => {
    const innerWidth = window.innerWidth;
    const past: string[] = [];
    for (const el of document.querySelectorAll('body *')) {
      const thead = el.closest('thead');
      if (thead && getComputedStyle(thead).position === 'absolute') continue; // visually hidden column names
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > innerWidth + 0.5) past.push(`${el.tagName.toLowerCase()}${el.className ? `.${String(el.className)}` : ''} right=${Math.round(r.right)}`);
    }
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth, past: past.slice(0, 5) };
  });
}

describe('web UI layout', () => {
  for (const width of WIDTHS) {
    it(`no page is wider than a ${width} px screen, with data in every table`, async () => {
      const page = await signedIn(width);
      const paths = ['', 'import', 'history', 'history?page=2', 'cluster', 'registry', 'trust', 'audit', 'audit?page=2', 'users', `imports/${appliedId}`, `imports/${failedId}`];
      for (const path of paths) {
        const res = await page.goto(`${app.url}/ui/${path}`);
        expect(res?.status(), path).toBe(200);
        const o = await overflow(page);
        expect({ path, ...o }).toEqual({ path, scrollWidth: o.innerWidth, innerWidth: width, past: [] });
      }
      // the tables had data in them
      await page.goto(`${app.url}/ui/history`);
      expect(await page.$$('table.rows tbody tr')).toHaveLength(2 + HISTORY_PAGE); // bundles held, then the newest imports
      expect(await page.textContent('main')).toContain('DIGEST_MISMATCH');
      await page.goto(`${app.url}/ui/history?page=2`);
      expect(await page.$$('table.rows tbody tr')).toHaveLength(2 + 43 - HISTORY_PAGE);
      expect(await page.textContent('main')).toContain('ROLLBACK');
      await page.goto(`${app.url}/ui/registry`);
      expect(await page.textContent('main')).toContain(LONG_REPO);
      // and the sign-in page, signed out
      const out = await (await browser.newContext({ viewport: { width, height: 900 } })).newPage();
      await out.goto(`${app.url}/ui/login`);
      expect(await overflow(out)).toEqual({ scrollWidth: width, innerWidth: width, past: [] });
      await out.context().close();

      await page.goto(`${app.url}/ui/`);
      await page.screenshot({ path: join(SHOTS, `overview-${width}.png`), fullPage: true });
      await page.goto(`${app.url}/ui/imports/${appliedId}`);
      await page.screenshot({ path: join(SHOTS, `import-report-${width}.png`), fullPage: true });
      await page.goto(`${app.url}/ui/imports/${failedId}`);
      await page.screenshot({ path: join(SHOTS, `import-failed-${width}.png`), fullPage: true });
      await page.context().close();
    }, 240_000);
  }

  it('on a phone, table rows become cards whose values carry their column names', async () => {
    const page = await signedIn(390);
    await page.goto(`${app.url}/ui/history`);
    const cell = await page.$eval('table.rows tbody td[data-label="Error"]:not(:empty)', (td) => ({
      label: getComputedStyle(td, '::before').content,
      display: getComputedStyle(td).display,
      text: td.textContent,
    }));
    expect(cell).toMatchObject({ label: '"Error"', display: 'block' });
    expect(cell.text).toMatch(/^DIGEST_MISMATCH: blob sha256:[0-9a-f]{64}/);
    await page.context().close();
  }, 120_000);

  it('pages the audit log, newest first', async () => {
    const page = await signedIn(390);
    const all = app.ctx.state.auditLog(1000);
    const seen: string[] = [];
    for (let n = 1; ; n++) {
      await page.goto(`${app.url}/ui/audit?page=${n}`);
      const details = await page.$$eval('table.rows tbody td[data-label="Detail"]', (tds) => tds.map((td) => td.textContent ?? ''));
      expect(details.length).toBeLessThanOrEqual(AUDIT_PAGE);
      seen.push(...details);
      const older = await page.$('a[rel="next"]');
      if (!older) break;
      expect(details).toHaveLength(AUDIT_PAGE);
      expect(n).toBeLessThan(20);
    }
    expect(seen).toEqual(all.map((a) => JSON.stringify(a.detail)));
    expect(seen.length).toBeGreaterThan(4 * AUDIT_PAGE);
    await page.context().close();
  }, 120_000);
});
