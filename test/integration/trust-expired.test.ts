/**
 * A site whose trust root has expired, as a real `airlock appliance serve` process: it starts, serves what it
 * holds to skopeo, curl and git, says so in status, UI and log, refuses new bundles with TRUST_ROOT_EXPIRED, and is
 * rescued by a bundle carrying the next root under the rotation rule. And the 30 days of warnings before that.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../bundler/build.js';
import { parseSpec } from '../../bundler/spec.js';
import { generateKey, publicPart } from '../../keys/key-file.js';
import { buildTrustRoot, readTrustRoot, signTrustRoot } from '../../keys/trust-root.js';
import { type ChildAppliance, type Site, api, importPath, makeSite, spawnAppliance, start } from '../helpers/appliance-fixture.js';
import { airlock } from '../helpers/cli.js';
import { run } from '../helpers/exec.js';
import { skopeoDigest } from '../helpers/images.js';

let site: Site;
let app: ChildAppliance;
let token: string;
let heldDigest: string;
const DAY = 86_400_000;

interface StatusView {
  channels: { sequence: number }[];
  trust: { version: number; state: string; daysLeft: number; warnings: string[] };
}
const status = async () => (await api<StatusView>(app.url, token, '/api/v1/status')).body;

/** The site's own root keys and release keys, with another expiry (and version). */
function siteRoot(expires: Date, version = 1): string {
  return signTrustRoot(buildTrustRoot({ rootKeys: [publicPart(site.trust.root)], releaseKeys: site.trust.release.map(publicPart), version, expires }), [site.trust.root]);
}

beforeAll(async () => {
  site = await makeSite();
  const dataDir = join(site.dir, 'data');
  const before = await spawnAppliance(site, dataDir);
  const first = await importPath(before.url, await before.token(), (await site.bundle({ sequence: 1, name: 'held' })).split('/').pop() ?? '');
  expect(first.state).toBe('applied');
  heldDigest = await skopeoDigest(`${before.url.replace('http://', '')}/team/app:1.0`);
  await before.stop();
  // The same keys, expired yesterday: the site is rebooted after its trust root's date.
  await writeFile(site.trustPath, siteRoot(new Date(Date.now() - DAY)));
  app = await spawnAppliance(site, dataDir);
  token = await app.token();
});

afterAll(async () => {
  await app?.stop();
});

describe('an appliance started with an expired trust root', () => {
  it('starts and says so in the log, in error', () => {
    const line = app
      .log()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: string; msg: string; state?: string })
      .find((l) => l.state === 'expired');
    expect(line?.level).toBe('error');
    expect(line?.msg).toContain('TRUST_ROOT_EXPIRED');
  });

  it('serves what it holds: skopeo and raw GETs on /v2, git clone on /git', async () => {
    const host = app.url.replace('http://', '');
    expect(await skopeoDigest(`${host}/team/app:1.0`)).toBe(heldDigest);
    const out = await mkdtemp(join(tmpdir(), 'airlock-expired-'));
    await run('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${host}/team/worker:1.0`, `oci:${join(out, 'layout')}:w`]);
    const tags = await fetch(`${app.url}/v2/team/worker/tags/list`);
    expect(tags.status).toBe(200);
    expect(await tags.json()).toEqual({ name: 'team/worker', tags: ['1.0'] });
    await run('git', ['clone', '--quiet', `${app.url}/git/platform.git`, join(out, 'clone')]);
    expect(await run('git', ['-C', join(out, 'clone'), 'log', '--format=%s', '-1'])).toContain('first');
  });

  it('reports the trust root as expired in GET /api/v1/status and in a banner on every UI page', async () => {
    const s = await status();
    expect(s.trust).toMatchObject({ version: 1, state: 'expired' });
    expect(s.trust.daysLeft).toBeLessThan(0);
    expect(s.trust.warnings[0]).toContain('refuses new bundles');
    for (const path of ['/ui/', '/ui/history']) {
      const page = await (await fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).text();
      expect(page).toMatch(/<p class="banner error" role="alert">the trust root \(version 1\) expired at/);
    }
  });

  it('refuses a new bundle with TRUST_ROOT_EXPIRED and keeps the one in force', async () => {
    const record = await importPath(app.url, token, (await site.bundle({ sequence: 2, name: 'new' })).split('/').pop() ?? '');
    expect(record.state).toBe('failed');
    expect(record.error?.code).toBe('TRUST_ROOT_EXPIRED');
    expect(record.error?.message).toContain('carries trust root version 2');
    expect((await status()).channels[0]?.sequence).toBe(1);
  });

  it('airlock trust show exits 1 on the expired root', async () => {
    const shown = await airlock(['trust', 'show', site.trustPath]);
    expect(shown.code).toBe(1);
    expect(shown.stdout).toContain('expired');
    expect(shown.stderr).toContain('TRUST_ROOT_EXPIRED');
  });

  it('is rescued by a bundle carrying version 2 under the rotation rule', async () => {
    const next = generateKey('root 2');
    const v2 = buildTrustRoot({ rootKeys: [publicPart(next)], releaseKeys: site.trust.release.map(publicPart), version: 2, expires: new Date(Date.now() + 365 * DAY) });
    const v2Path = join(site.dir, 'root-v2.json');
    await writeFile(v2Path, signTrustRoot(v2, [site.trust.root, next]));
    const text = `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: store\ntrustRoot: root-v2.json\ndiscoverImages: false\nimages:\n  - oci:./layout:team/worker:2.0\n`;
    const specPath = join(site.dir, 'rescue.yaml');
    await writeFile(specPath, text);
    await buildBundle({ spec: parseSpec(text, specPath), keys: site.trust.release, out: join(site.media, 'rescue.airlock'), sequence: 3 });
    const record = await importPath(app.url, token, 'rescue.airlock');
    expect(record.state).toBe('applied');
    expect((await status()).trust).toMatchObject({ version: 2, state: 'ok', warnings: [] });
    const page = await (await fetch(`${app.url}/ui/`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(page).not.toContain('class="banner');
  });
});

describe('a trust root expiring within 30 days', () => {
  it('warns in status, UI and log but still imports', async () => {
    const lines: { level: string; msg: string }[] = [];
    const log = { info: () => undefined, warn: (msg: string) => lines.push({ level: 'warn', msg }), error: (msg: string) => lines.push({ level: 'error', msg }) };
    const trust = readTrustRoot(siteRoot(new Date(Date.now() + 10 * DAY - 60_000)), 'expiring root.json');
    const local = await start(site, { trust, log });
    try {
      const s = (await api<StatusView>(local.url, local.token, '/api/v1/status')).body;
      expect(s.trust).toMatchObject({ state: 'expiring', daysLeft: 10 });
      expect(lines.find((l) => l.msg.includes('expires at'))?.level).toBe('warn');
      const page = await (await fetch(`${local.url}/ui/`, { headers: { authorization: `Bearer ${local.token}` } })).text();
      expect(page).toContain('class="banner warn"');
      expect((await importPath(local.url, local.token, 'held.airlock')).state).toBe('applied');
    } finally {
      await local.close();
    }
  });
});
