/**
 * The Cluster page in a real browser with a site of two real clusters: one tab per cluster, each showing its own
 * placement and objects (a drifted object's diff only on the cluster where it drifted); the Overview lists every
 * placement.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSiteFile } from '../../appliance/reconcile/targets.js';
import { launchChromium } from '../helpers/browser.js';
import { type Site, api, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { type TestCluster, startCluster } from '../helpers/kube.js';

const PASSWORD = 'placements page password';
let site: Site;
let pos: TestCluster;
let cameras: TestCluster;
let app: Awaited<ReturnType<typeof start>>;
let browser: Browser;

beforeAll(async () => {
  [pos, cameras] = await Promise.all([startCluster(), startCluster()]);
  site = await makeSite();
  const passwordFile = join(site.dir, 'admin-password');
  await writeFile(passwordFile, PASSWORD);
  const siteFile = join(site.dir, 'site.yaml');
  await writeFile(siteFile, `apiVersion: airlock.dev/v1\nkind: Site\nmetadata: {name: store-7}\nclusters:\n  - {name: pos, kubeconfig: ${pos.kubeconfig}, labels: {role: pos}}\n  - {name: cameras, kubeconfig: ${cameras.kubeconfig}, labels: {role: cameras}}\n`);
  app = await start(site, { site: await loadSiteFile(siteFile), intervalMs: 1000, adminPasswordFile: passwordFile });
  browser = await launchChromium();
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await Promise.all([pos?.stop(), cameras?.stop()]);
});

describe('Cluster page per cluster', () => {
  it('shows one view per cluster with its own placement, and every placement on the Overview', async () => {
    expect(await importPath(app.url, app.token, await site.bundle({ sequence: 1 }))).toMatchObject({ state: 'applied' });
    for (let i = 0; i < 600; i++) {
      const s = await api<{ placements: { sync: string }[] }>(app.url, app.token, '/api/v1/status');
      if (s.body.placements.length === 2 && s.body.placements.every((p) => p.sync === 'Synced')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const edit = await cameras.request('/api/v1/namespaces/default/configmaps/a?fieldManager=kubectl-edit', {
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

    await page.goto(`${app.url}/ui/`);
    const overview = (await page.textContent('main')) ?? '';
    expect(overview).toContain('Placements');
    expect(await page.locator('table.placements tr').count()).toBe(3); // head + two placements
    expect(await page.locator('table.placements a').allTextContents()).toEqual(['cameras', 'pos']);

    let text = '';
    for (let i = 0; i < 100 && !text.includes('have "someone-else"'); i++) {
      await page.goto(`${app.url}/ui/cluster?name=cameras`);
      text = (await page.textContent('main')) ?? '';
      if (!text.includes('someone-else')) await new Promise((r) => setTimeout(r, 200));
    }
    expect(await page.locator('nav.tabs a').allTextContents()).toEqual(['pos', 'cameras']);
    expect(await page.locator('nav.tabs a[aria-current="page"]').textContent()).toBe('cameras');
    expect(text).toContain('Cluster cameras');
    expect(text).toContain(cameras.server);
    expect(text).toContain('role=cameras');
    expect(text).toContain('Channel stable on cameras');
    expect(text).toContain('metadata.labels.airlock.dev/owner: want "stable", have "someone-else"');
    expect(text).not.toContain(pos.server);
    await page.screenshot({ path: join(process.cwd(), 'test-artifacts', 'screenshots', 'cluster-placements-cameras.png'), fullPage: true });

    await page.click('nav.tabs a:has-text("pos")');
    const posText = (await page.textContent('main')) ?? '';
    expect(posText).toContain('Cluster pos');
    expect(posText).toContain(pos.server);
    expect(posText).toContain('Channel stable on pos');
    expect(posText).toContain('ConfigMap default/a');
    expect(posText).not.toContain('someone-else');
    await page.close();
  });
});
