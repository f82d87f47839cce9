/**
 * A bundle carrying the next trust root (spec `trustRoot: FILE`), end to end through the appliance: a forged
 * rotation is refused and changes nothing; a good one is taken, persisted, and from then on bundles are checked
 * under the new root's release key, also after a restart. The airlock CLI shows and verifies the same files.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../bundler/build.js';
import { parseSpec } from '../../bundler/spec.js';
import { type SecretKey, generateKey, publicPart } from '../../keys/key-file.js';
import { buildTrustRoot, signTrustRoot } from '../../keys/trust-root.js';
import { type Site, api, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { cli } from '../helpers/cli.js';

let site: Site;
let app: Awaited<ReturnType<typeof start>>;
let dataDir: string;
const n1 = generateKey('new root 1');
const n2 = generateKey('new root 2');
const newRelease = generateKey('new release');

interface TrustView {
  version: number;
  state: string;
  daysLeft: number;
  warnings: string[];
}
const trustNow = async () => (await api<{ trust: TrustView; channels: { sequence: number }[] }>(app.url, app.token, '/api/v1/status')).body;

/** Version 2: root keys n1 and n2 (2 of 2), release key newRelease; signed by `signers`. */
async function nextRootFile(name: string, signers: SecretKey[]): Promise<string> {
  const root = buildTrustRoot({ rootKeys: [n1, n2].map(publicPart), releaseKeys: [publicPart(newRelease)], rootThreshold: 2, version: 2, expires: new Date(Date.now() + 365 * 86400_000) });
  const path = join(site.dir, name);
  await writeFile(path, signTrustRoot(root, signers));
  return path;
}

/** A bundle of the site's worker image and Git repository, optionally carrying a trust root, into media/NAME.airlock. */
async function bundle(name: string, sequence: number, keys: SecretKey[], trustRoot?: string): Promise<string> {
  const text = `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: store\n  channel: stable\n${trustRoot ? `trustRoot: ${trustRoot}\n` : ''}discoverImages: false\nimages:\n  - oci:./layout:team/worker:1.0\ngit:\n  - name: platform\n    url: ./platform\n    ref: main\n    manifests: clusters/store\n`;
  const specPath = join(site.dir, `${name}.yaml`);
  await writeFile(specPath, text);
  await buildBundle({ spec: parseSpec(text, specPath), keys, out: join(site.media, `${name}.airlock`), sequence });
  return `${name}.airlock`;
}

beforeAll(async () => {
  site = await makeSite();
  dataDir = join(site.dir, 'data');
  app = await start(site, { dataDir });
  expect((await importPath(app.url, app.token, await bundle('first', 1, site.trust.release))).state).toBe('applied');
});

afterAll(async () => {
  await app?.close();
});

describe('trust-root rotation carried by a bundle', () => {
  it('refuses at build time a trust root that is not validly signed', async () => {
    const bad = await nextRootFile('half-signed.json', [n1]);
    await expect(bundle('never', 9, [newRelease], bad)).rejects.toMatchObject({ code: 'TRUST_ROOT_INVALID' });
  });

  it('refuses a forged rotation (no old root key signed it) and changes nothing', async () => {
    const forged = await nextRootFile('forged.json', [n1, n2]);
    const record = await importPath(app.url, app.token, await bundle('forged', 2, [newRelease], forged));
    expect(record.state).toBe('failed');
    expect(record.error?.code).toBe('THRESHOLD_NOT_MET');
    expect(record.error?.message).toContain('0 valid root (of trust root version 1) signature(s), 1 required');
    const after = await trustNow();
    expect(after.trust.version).toBe(1);
    expect(after.channels[0]?.sequence).toBe(1);
    expect(existsSync(join(dataDir, 'trust', 'root-v2.json'))).toBe(false);
    // The new release key is still a stranger here.
    const plain = await importPath(app.url, app.token, await bundle('stranger', 3, [newRelease]));
    expect(plain.error?.code).toBe('SIGNATURE_INVALID');
  });

  it('takes a good rotation, persists it, and checks the next bundle under the new release key', async () => {
    const good = await nextRootFile('root-v2.json', [site.trust.root, n1, n2]);
    const shown = await cli(['trust', 'show', good, '--json']);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ version: 2, state: 'ok', roles: { root: { threshold: 2, keys: [{ keyid: n1.keyid }, { keyid: n2.keyid }] }, release: { keys: [{ keyid: newRelease.keyid, name: 'new release' }] } } });

    const rotating = await bundle('rotating', 4, [newRelease], good);
    // Offline, `bundle verify` against the old root follows the same rule.
    expect((await cli(['bundle', 'verify', join(site.media, rotating), '--trust', site.trustPath])).code).toBe(0);
    const record = await importPath(app.url, app.token, rotating);
    expect(record).toMatchObject({ state: 'applied', sequence: 4 });
    expect((await trustNow()).trust).toMatchObject({ version: 2, state: 'ok', warnings: [] });
    expect(existsSync(join(dataDir, 'trust', 'root-v2.json'))).toBe(true);
    const audit = app.ctx.state.auditLog().find((a) => a.action === 'trust.rotated');
    expect(audit?.detail).toMatchObject({ from: 1, to: 2 });

    expect((await importPath(app.url, app.token, await bundle('under-v2', 5, [newRelease]))).state).toBe('applied');
    const old = await importPath(app.url, app.token, await bundle('old-key', 6, site.trust.release));
    expect(old.error?.code).toBe('SIGNATURE_INVALID');
    // Re-importing the bundle that rotated: the root it carries is no newer; the bundle is simply not newer either.
    expect((await importPath(app.url, app.token, rotating)).error?.code).toBe('ROLLBACK');
  });

  it('keeps the new root after a restart given the old root.json', async () => {
    await app.close();
    app = await start(site, { dataDir, trust: site.trust.trust });
    expect((await trustNow()).trust.version).toBe(2);
    expect((await importPath(app.url, app.token, await bundle('after-restart', 7, [newRelease]))).state).toBe('applied');
    expect((await importPath(app.url, app.token, await bundle('old-after-restart', 8, site.trust.release))).error?.code).toBe('SIGNATURE_INVALID');
  });

  it('refuses to start when a root in the data directory does not chain to the given one', async () => {
    await app.close();
    const stray = buildTrustRoot({ rootKeys: [publicPart(n1)], releaseKeys: [publicPart(n1)], version: 3, expires: new Date(Date.now() + 86400_000) });
    await writeFile(join(dataDir, 'trust', 'root-v3.json'), signTrustRoot(stray, [n1])); // signed by n1 alone: 1 of v2's 2 root keys
    await expect(start(site, { dataDir })).rejects.toMatchObject({ code: 'THRESHOLD_NOT_MET' });
  });
});
