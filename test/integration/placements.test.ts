/**
 * Two real kube-apiservers (each with its own etcd and controller manager) kept by one appliance through a site
 * file: objects land in each, labelled with their placement; freezing one API server (SIGSTOP) never stops the
 * other placement from checking and healing drift; thawed, the frozen one recovers and reports Synced. Status,
 * `/objects?cluster=` and `/metrics` show each placement. Waves: wave 1 reaches a cluster only once its wave 0
 * (a PersistentVolumeClaim whose status the test sets, as no volume controller runs) is Healthy there.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSiteFile } from '../../appliance/reconcile/targets.js';
import { type Site, api, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { type TestCluster, startCluster } from '../helpers/kube.js';
import { until } from '../helpers/until.js';

let site: Site;
let pos: TestCluster;
let cameras: TestCluster;
let app: Awaited<ReturnType<typeof start>>;

interface PlacementView {
  cluster: string;
  channel: string;
  sync: string;
  health: string;
  drifted: number;
  reason?: string;
  checkedAt: string | null;
  lastSync: { ok: boolean; at: string } | null;
}

async function placement(cluster: string): Promise<PlacementView | undefined> {
  return (await api<{ placements: PlacementView[] }>(app.url, app.token, '/api/v1/status')).body.placements.find((p) => p.cluster === cluster);
}

const configMap = async (kube: TestCluster, name: string) => {
  const res = await kube.request(`/api/v1/namespaces/default/configmaps/${name}`);
  return res.status === 200 ? ((await res.json()) as { data?: Record<string, string>; metadata: { labels?: Record<string, string> } }) : undefined;
};

beforeAll(async () => {
  [pos, cameras] = await Promise.all([startCluster(), startCluster()]);
  site = await makeSite();
  await site.commit({ 'clusters/store/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  v: "1"\n' }, 'manifests');
  const siteFile = join(site.dir, 'site.yaml');
  await writeFile(
    siteFile,
    `apiVersion: airlock.dev/v1\nkind: Site\nmetadata:\n  name: store-0042\n  labels: {region: eu}\nclusters:\n  - name: pos\n    kubeconfig: ${pos.kubeconfig}\n    labels: {role: pos}\n  - name: cameras\n    kubeconfig: ${cameras.kubeconfig}\n`,
  );
  app = await start(site, { site: await loadSiteFile(siteFile), intervalMs: 1000, selfHeal: true, kubeTimeoutMs: 3000 });
}, 900_000);

afterAll(async () => {
  pos?.resumeApiServer();
  cameras?.resumeApiServer();
  await app?.close();
  await Promise.all([pos?.stop(), cameras?.stop()]);
});

describe('placements on two real clusters', () => {
  it('syncs the channel onto each cluster of the site file, objects labelled with site, channel and cluster', async () => {
    expect(await importPath(app.url, app.token, await site.bundle({ sequence: 1 }))).toMatchObject({ state: 'applied' });
    for (const name of ['pos', 'cameras']) await until(`${name} Synced`, async () => (await placement(name))?.sync === 'Synced');
    for (const [kube, name] of [[pos, 'pos'], [cameras, 'cameras']] as const) {
      expect((await configMap(kube, 'a'))?.metadata.labels).toMatchObject({ 'airlock.dev/owner': 'stable', 'airlock.dev/site': 'store-0042', 'airlock.dev/cluster': name });
    }
    const status = await api<{ placements: PlacementView[]; clusters: { name: string; labels: Record<string, string> }[] }>(app.url, app.token, '/api/v1/status');
    expect(status.body.placements.map((p) => `${p.cluster}/${p.channel}:${p.sync}:${p.health}`)).toEqual(['cameras/stable:Synced:Healthy', 'pos/stable:Synced:Healthy']);
    expect(status.body.clusters.find((c) => c.name === 'pos')?.labels).toEqual({ region: 'eu', role: 'pos' });

    const objects = await api<{ placements: { cluster: string; objects: { kind: string; name: string }[] }[] }>(app.url, app.token, '/api/v1/objects?cluster=pos');
    expect(objects.body.placements.map((p) => p.cluster)).toEqual(['pos']);
    expect(objects.body.placements[0]?.objects.map((o) => `${o.kind}/${o.name}`)).toContain('ConfigMap/a');
    expect((await api(app.url, app.token, '/api/v1/objects?cluster=nowhere')).status).toBe(404);

    const metrics = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${app.token}` } });
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(text).toContain('airlock_placement_health{cluster="pos",channel="stable",health="Healthy"} 1');
    expect(text).toContain('airlock_placement_drifted_objects{cluster="cameras",channel="stable"} 0');
    expect(text).toContain('airlock_imports_total{outcome="applied"} 1');
    expect(text).toMatch(/airlock_placement_sync_duration_seconds\{cluster="pos",channel="stable"\} \d/);
    expect((await fetch(`${app.url}/metrics`)).status).toBe(401);
  });

  it('keeps checking and healing one cluster while the other API server is frozen, and the frozen one recovers', async () => {
    cameras.pauseApiServer();
    try {
      const edit = await pos.request('/api/v1/namespaces/default/configmaps/a?fieldManager=kubectl-edit', {
        method: 'PATCH',
        headers: { 'content-type': 'application/merge-patch+json' },
        body: JSON.stringify({ data: { v: 'hacked' } }),
      });
      expect(edit.status).toBe(200);
      const frozenAt = new Date().toISOString();
      await until('pos healed', async () => (await configMap(pos, 'a'))?.data?.v === '1');
      const healthy = await until('pos checked after the freeze', async () => {
        const p = await placement('pos');
        return p && (p.checkedAt ?? '') > frozenAt && p.sync === 'Synced' ? p : undefined;
      });
      expect(healthy.health).toBe('Healthy');
      const frozen = await until('cameras Degraded', async () => {
        const p = await placement('cameras');
        return p?.health === 'Degraded' ? p : undefined;
      });
      expect(frozen.reason).toMatch(/timed out|no answer/);
      // pos goes on being checked while cameras is still frozen.
      const later = (await placement('pos'))?.checkedAt ?? '';
      await until('another pos check', async () => ((await placement('pos'))?.checkedAt ?? '') > later);
    } finally {
      cameras.resumeApiServer();
    }
    const thawedAt = new Date().toISOString();
    const back = await until('cameras Synced again', async () => {
      const p = await placement('cameras');
      return p?.sync === 'Synced' && p.health === 'Healthy' && (p.checkedAt ?? '') > thawedAt ? p : undefined;
    });
    expect(back.reason).toBeUndefined();
    expect((await configMap(cameras, 'a'))?.data).toEqual({ v: '1' });
  });

  it('applies wave 1 on each cluster only once wave 0 is Healthy there', async () => {
    await site.commit(
      {
        'clusters/store/pvc.yaml':
          'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  annotations: {airlock.dev/sync-wave: "0"}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Mi}}\n',
        'clusters/store/after.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after\n  annotations: {airlock.dev/sync-wave: "1"}\n',
      },
      'waves',
    );
    expect(await importPath(app.url, app.token, await site.bundle({ sequence: 2 }))).toMatchObject({ state: 'applied' });
    const pvc = (kube: TestCluster) => kube.request('/api/v1/namespaces/default/persistentvolumeclaims/data').then((r) => r.status === 200);
    await until('the claims of wave 0', async () => (await pvc(pos)) && (await pvc(cameras)));
    await new Promise((r) => setTimeout(r, 3000)); // several health polls
    expect(await configMap(pos, 'after')).toBeUndefined();
    expect(await configMap(cameras, 'after')).toBeUndefined();
    expect((await placement('pos'))?.sync).not.toBe('Synced');

    const bind = async (kube: TestCluster) => {
      const res = await kube.request('/api/v1/namespaces/default/persistentvolumeclaims/data/status', {
        method: 'PATCH',
        headers: { 'content-type': 'application/merge-patch+json' },
        body: JSON.stringify({ status: { phase: 'Bound' } }),
      });
      expect(res.status).toBe(200);
    };
    await bind(pos);
    await until('wave 1 on pos', async () => (await configMap(pos, 'after')) !== undefined);
    await until('pos Synced', async () => (await placement('pos'))?.sync === 'Synced');
    expect(await configMap(cameras, 'after')).toBeUndefined(); // its claim is still Pending
    await bind(cameras);
    await until('wave 1 on cameras', async () => (await configMap(cameras, 'after')) !== undefined);
    await until('cameras Synced', async () => (await placement('cameras'))?.sync === 'Synced');
  });
});
