/**
 * The Cluster page in a real browser against a real kube-apiserver: objects with sync and health, and a drifted
 * object's diff after someone else edits it (self-heal off, so the drift stays to be seen), on a laptop and a phone.
 * The site receipt (fetched with curl) names the drifted object, and headquarters' `fleet status --json` shows it.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Site, api, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { type TestCluster, startCluster } from '../helpers/kube.js';
import { cli } from '../helpers/cli.js';
import { run } from '../helpers/exec.js';

const PASSWORD = 'cluster page password';
let site: Site;
let kube: TestCluster;
let app: Awaited<ReturnType<typeof start>>;
let browser: Browser;

beforeAll(async () => {
  kube = await startCluster();
  site = await makeSite();
  const passwordFile = join(site.dir, 'admin-password');
  await writeFile(passwordFile, PASSWORD);
  app = await start(site, { kubeconfig: kube.kubeconfig, intervalMs: 1000, adminPasswordFile: passwordFile });
  browser = await launchChromium();
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await kube?.stop();
});

describe('Cluster page', () => {
  it('shows each object with sync and health, and a drifted object with its diff', async () => {
    await site.bundle({ sequence: 1 });
    expect(await importPath(app.url, app.token, 'seq-1.airlock')).toMatchObject({ state: 'applied' });
    for (let i = 0; i < 300; i++) {
      const status = await api<{ channels: { sync: string }[] }>(app.url, app.token, '/api/v1/status');
      if (status.body.channels[0]?.sync === 'Synced') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const edit = await kube.request('/api/v1/namespaces/default/configmaps/a?fieldManager=kubectl-edit', {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ metadata: { labels: { 'airlock.dev/owner': 'someone-else' } } }),
    });
    expect(edit.status).toBe(200);

    const page = await browser.newPage();
    await page.goto(`${app.url}/ui/login`);
    await page.fill('#name', 'admin');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Sign in")')]);
    let text = '';
    for (let i = 0; i < 100 && !text.includes('want "stable", have "someone-else"'); i++) {
      await page.goto(`${app.url}/ui/cluster`);
      text = (await page.textContent('main')) ?? '';
      if (!text.includes('someone-else')) await new Promise((r) => setTimeout(r, 200));
    }
    expect(text).toContain('ConfigMap default/a');
    expect(text).toContain('OutOfSync');
    expect(text).toContain('metadata.labels.airlock.dev/owner: want "stable", have "someone-else"');
    expect(await page.$$eval('.badge', (els) => els.map((e) => e.textContent?.trim()))).toEqual(expect.arrayContaining(['Sync: OutOfSync']));
    await page.screenshot({ path: join(process.cwd(), 'test-artifacts', 'screenshots', 'cluster-drift.png'), fullPage: true });
    // on a phone the objects and the diff fit the screen: no horizontal scrolling, nothing cut
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${app.url}/ui/cluster`);
    const fit = await page.evaluate(() => {
      const past = [...document.querySelectorAll('main *')].filter((el) => {
        const thead = el.closest('thead');
        return !(thead && getComputedStyle(thead).position === 'absolute') && el.getBoundingClientRect().right > window.innerWidth + 0.5;
      });
      return { scrollWidth: document.documentElement.scrollWidth, past: past.map((el) => el.tagName) };
    });
    expect(fit).toEqual({ scrollWidth: 390, past: [] });
    expect(await page.textContent('main')).toContain('want "stable", have "someone-else"');
    await page.screenshot({ path: join(process.cwd(), 'test-artifacts', 'screenshots', 'cluster-drift-390.png'), fullPage: true });
    await page.close();
  });

  it('names the drifted object in the site receipt, which fleet status reads back by name', async () => {
    const receipt = join(site.dir, 'receipts', 'store.json');
    const key = join(site.dir, 'appliance.pub');
    await run('mkdir', ['-p', join(site.dir, 'receipts')]);
    for (const [path, file] of [['/api/v1/receipt', receipt], ['/api/v1/receipt/key', key]] as const) {
      await run('curl', ['-sf', '-H', `authorization: Bearer ${app.token}`, '-o', file, `${app.url}${path}`]);
    }
    const verified = await cli(['receipt', 'verify', receipt, '--appliance-key', key, '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    const placement = (JSON.parse(verified.stdout) as { placements: { drifted: number; driftedObjects?: string[] }[] }).placements[0];
    expect(placement).toMatchObject({ drifted: 1, driftedObjects: ['ConfigMap default/a'] });

    const fleet = join(site.dir, 'fleet.yaml');
    await writeFile(fleet, `kind: Fleet\nsites:\n  - {name: store, labels: {region: eu}, key: ${key}}\nwaves:\n  - {name: everyone, selector: {}}\n`);
    const status = await cli(['fleet', 'status', '-f', fleet, '--receipts', join(site.dir, 'receipts'), '--json']);
    expect(status.code, status.stderr).toBe(0);
    const rows = (JSON.parse(status.stdout) as { sites: { name: string; rows: { drifted: number; driftedObjects?: string[] }[] }[] }).sites[0]?.rows;
    expect(rows?.map((r) => [r.drifted, r.driftedObjects])).toEqual([[1, ['ConfigMap default/a']]]);
  });
});
