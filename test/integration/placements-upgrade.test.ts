/**
 * Upgrade in place: a data directory written by the release before placements (its code taken from Git — the
 * parent of the commit that added appliance/reconcile/placement.ts — and run from source in this process) starts
 * under this release with its bundle in force, history, accounts and inventory intact. Its first sync adopts the
 * objects (labels naming site and cluster added) and prunes nothing; the next bundle prunes what it drops.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { startAppliance as StartAppliance } from '../../appliance/server.js';
import { type Site, api, importPath, makeSite, quietLog, start } from '../helpers/appliance-fixture.js';
import { type TestCluster, startCluster } from '../helpers/kube.js';
import { until } from '../helpers/until.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let site: Site;
let kube: TestCluster;
let dataDir: string;
let oldRelease: { startAppliance: typeof StartAppliance };
let oldTree: string | undefined;

/** The release before placements, extracted from Git into a temporary directory, sharing this node_modules. */
async function previousRelease(): Promise<{ startAppliance: typeof StartAppliance }> {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  const added = git('log', '--diff-filter=A', '--format=%H', '--', 'appliance/reconcile/placement.ts').split('\n').pop() ?? '';
  expect(added).toMatch(/^[0-9a-f]{40}$/);
  const dir = await mkdtemp(join(tmpdir(), 'airlock-previous-'));
  oldTree = dir;
  execFileSync('bash', ['-c', `git archive ${added}^ | tar -x -C ${dir}`], { cwd: ROOT });
  await symlink(await realpath(join(ROOT, 'node_modules')), join(dir, 'node_modules'));
  return (await import(join(dir, 'appliance', 'server.ts'))) as { startAppliance: typeof StartAppliance };
}

const labelsOf = async (name: string) => {
  const res = await kube.request(`/api/v1/namespaces/default/configmaps/${name}`);
  return res.status === 200 ? ((await res.json()) as { metadata: { labels?: Record<string, string> } }).metadata.labels : undefined;
};

beforeAll(async () => {
  [kube, oldRelease] = await Promise.all([startCluster(), previousRelease()]);
  site = await makeSite();
  await site.commit({ 'clusters/store/cm.yaml': '', 'clusters/store/keep.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n', 'clusters/store/drop.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: drop\n' }, 'two objects');
  dataDir = join(site.dir, 'data-upgrade');
  await mkdir(dataDir);
}, 900_000);

afterAll(async () => {
  await kube?.stop();
  if (oldTree) await rm(oldTree, { recursive: true, force: true });
});

describe('upgrade in place from the release before placements', () => {
  it('keeps bundle, history, accounts and inventory; the first sync adopts and prunes nothing; the next prunes what is dropped', async () => {
    const passwordFile = join(site.dir, 'admin-password');
    await writeFile(passwordFile, 'upgrade test password');
    const old = await oldRelease.startAppliance({ dataDir, trust: site.trust.trust, port: 0, media: site.media, log: quietLog, kubeconfig: kube.kubeconfig, intervalMs: 1000, adminPasswordFile: passwordFile });
    const token = (await import('node:fs/promises').then((fs) => fs.readFile(old.adminTokenPath, 'utf8'))).trim();
    expect(await importPath(old.url, token, await site.bundle({ sequence: 1 }))).toMatchObject({ state: 'applied' });
    const before = await until('the old release Synced', async () => {
      const s = await api<{ channels: { sync: string; rootDigest: string }[] }>(old.url, token, '/api/v1/status');
      return s.body.channels[0]?.sync === 'Synced' ? s.body.channels[0] : undefined;
    });
    await old.close();
    expect(await labelsOf('drop')).toEqual({ 'airlock.dev/owner': 'stable' });

    const app = await start(site, { dataDir, kubeconfig: kube.kubeconfig, intervalMs: 1000 });
    try {
      expect(app.token).toBe(token); // the token file and its account are the old ones
      const placement = await until('the first sync under this release', async () => {
        const s = await api<{ placements: { cluster: string; sync: string; lastSync: { ok: boolean; pruned: string[] } | null }[] }>(app.url, token, '/api/v1/status');
        const p = s.body.placements.find((x) => x.cluster === 'local');
        return p?.lastSync?.ok ? p : undefined;
      });
      expect(placement.lastSync?.pruned).toEqual([]);
      expect(placement.sync).toBe('Synced');
      const status = await api<{ channels: { sequence: number; rootDigest: string }[] }>(app.url, token, '/api/v1/status');
      expect(status.body.channels).toMatchObject([{ sequence: 1, rootDigest: before.rootDigest }]);
      expect((await api<{ imports: unknown[] } | unknown[]>(app.url, token, '/api/v1/imports')).status).toBe(200);
      expect(app.ctx.state.listImports().filter((i) => i.state === 'applied')).toHaveLength(1);
      expect(app.ctx.state.accounts.userCount()).toBe(1);
      for (const name of ['keep', 'drop']) expect(await labelsOf(name)).toMatchObject({ 'airlock.dev/owner': 'stable', 'airlock.dev/cluster': 'local' });
      expect(app.ctx.state.inventory('stable')).toEqual([]);
      expect(app.ctx.state.inventory('stable@local').map((e) => e.name).sort()).toEqual(['drop', 'keep']);

      await site.commit({ 'clusters/store/drop.yaml': '' }, 'drop one');
      expect(await importPath(app.url, token, await site.bundle({ sequence: 2 }))).toMatchObject({ state: 'applied' });
      const next = await until('the sync of the next bundle', async () => {
        const s = await api<{ placements: { rootDigest: string; sync: string; lastSync: { pruned: string[] } | null }[] }>(app.url, token, '/api/v1/status');
        const p = s.body.placements[0];
        return p && p.rootDigest !== before.rootDigest && p.sync === 'Synced' ? p : undefined;
      });
      expect(next.lastSync?.pruned).toEqual(['/ConfigMap/default/drop']);
      expect(await labelsOf('drop')).toBeUndefined();
      expect(await labelsOf('keep')).toBeDefined();
    } finally {
      await app.close();
    }
  });
});
