/**
 * The appliance reconciling a real kube-apiserver: an import is synced (Git manifests applied, images pointed at
 * the appliance and pinned), the next bundle changes and prunes, self-heal reverts an edit by another field
 * manager, a check with nothing drifted writes nothing, and an API server outage shows as Degraded with the
 * reason, then recovers. Without a kubeconfig the appliance says it does not reconcile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Site, api, importPath, makeSite, start, waitImport } from '../helpers/appliance-fixture.js';
import { type TestCluster, startCluster } from '../helpers/kube.js';
import { until } from '../helpers/until.js';

let site: Site;
let kube: TestCluster;
let app: Awaited<ReturnType<typeof start>>;

interface ChannelView {
  channel: string;
  sequence: number;
  rootDigest: string;
  sync: string;
  health: string;
  reason?: string;
  lastSync?: { ok: boolean; pruned: string[] };
}

async function channel(): Promise<ChannelView | undefined> {
  return (await api<{ channels: ChannelView[] }>(app.url, app.token, '/api/v1/status')).body.channels[0];
}

const cm = async (name: string) => {
  const res = await kube.request(`/api/v1/namespaces/default/configmaps/${name}`);
  return res.status === 200 ? ((await res.json()) as { data?: Record<string, string>; metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } }) : undefined;
};

beforeAll(async () => {
  kube = await startCluster();
  site = await makeSite();
  await site.commit(
    {
      'clusters/store/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  v: "1"\n',
      'clusters/store/old.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n',
      'clusters/store/job.yaml':
        'apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: hello\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: hello\n          image: team/worker:1.0\n',
    },
    'manifests',
  );
  app = await start(site, { kubeconfig: kube.kubeconfig, intervalMs: 1000, selfHeal: true });
}, 900_000);

afterAll(async () => {
  await app?.close();
  await kube?.stop();
});

describe('reconciling a real cluster', () => {
  it('syncs an import: objects applied, owned, annotated, images at the appliance pinned by digest', async () => {
    expect(await importPath(app.url, app.token, await site.bundle({ sequence: 1 }).then(() => 'seq-1.airlock'))).toMatchObject({ state: 'applied' });
    const c = await until('sync', async () => {
      const v = await channel();
      return v?.sync === 'Synced' && v;
    });
    expect(c.lastSync?.ok).toBe(true);
    const a = await cm('a');
    expect(a?.metadata.labels?.['airlock.dev/owner']).toBe('stable');
    expect(a?.metadata.annotations?.['airlock.dev/bundle-root']).toBe(c.rootDigest);
    const job = (await (await kube.request('/apis/batch/v1/namespaces/default/jobs/hello')).json()) as { spec: { template: { spec: { containers: { image: string }[] } } } };
    const held = app.ctx.state.status()[0]?.summary.images.find((i) => i.ref.endsWith('team/worker:1.0'));
    expect(job.spec.template.spec.containers[0]?.image).toBe(`127.0.0.1:${app.port}/team/worker:1.0@${held?.digest}`);

    const objects = await api<{ channels: { objects: { kind: string; name: string; sync: string; health: string }[] }[] }>(app.url, app.token, '/api/v1/objects');
    expect(objects.body.channels[0]?.objects.map((o) => `${o.kind}/${o.name}:${o.sync}`).sort()).toEqual(['ConfigMap/a:Synced', 'ConfigMap/old:Synced', 'Job/hello:Synced']);
  });

  it('applies the next bundle: changed object updated, dropped object pruned', async () => {
    await site.commit({ 'clusters/store/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  v: "2"\n', 'clusters/store/old.yaml': '' }, 'next');
    await site.bundle({ sequence: 2 });
    expect(await importPath(app.url, app.token, 'seq-2.airlock')).toMatchObject({ state: 'applied' });
    const c = await until('second sync', async () => {
      const v = await channel();
      return v?.sequence === 2 && v.sync === 'Synced' && v;
    });
    expect(c.lastSync?.pruned).toEqual(['/ConfigMap/default/old']);
    expect((await cm('a'))?.data).toEqual({ v: '2' });
    expect(await cm('old')).toBeUndefined();
  });

  it('sends no write on a pass where nothing drifted', async () => {
    const cluster = app.ctx.reconciler?.opts.cluster;
    const before = cluster?.requests.write;
    await app.ctx.reconciler?.checkNow();
    expect(cluster?.requests.write).toBe(before);
    expect(cluster?.requests.read).toBeGreaterThan(0);
  });

  it('self-heals an edit by another field manager on the next pass', async () => {
    const edit = await kube.request('/api/v1/namespaces/default/configmaps/a?fieldManager=kubectl-edit', {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ data: { v: 'hacked' } }),
    });
    expect(edit.status).toBe(200);
    await until('self-heal', async () => (await cm('a'))?.data?.v === '2');
    expect((await channel())?.sync).toBe('Synced');
  });

  it('shows an API server outage as Degraded with the reason, and recovers', async () => {
    await kube.stopApiServer();
    const down = await until('Degraded', async () => {
      const v = await channel();
      return v?.health === 'Degraded' && v;
    });
    expect(down.reason).toMatch(/cannot be reached|ECONNREFUSED/);
    await kube.startApiServer();
    const up = await until('recovery', async () => {
      const v = await channel();
      return v?.health !== 'Degraded' && v?.sync === 'Synced' && v;
    });
    expect(up.reason).toBeUndefined();
  });
});

describe('a bundle with an object that cannot be applied', () => {
  it('fails the sync before any write, naming file and object; the cluster keeps the previous state', async () => {
    await site.commit({ 'clusters/store/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  v: "3"\n', 'clusters/store/bad.yaml': 'kind: ConfigMap\nmetadata:\n  name: bad\n' }, 'bad');
    await site.bundle({ sequence: 3 });
    const writes = app.ctx.reconciler?.opts.cluster.requests.write;
    expect(await importPath(app.url, app.token, 'seq-3.airlock')).toMatchObject({ state: 'applied' });
    const c = await until('failed sync', async () => {
      const v = await channel();
      return v?.sequence === 3 && v.lastSync?.ok === false && v;
    });
    expect(c).toMatchObject({ sync: 'OutOfSync', health: 'Degraded' });
    expect(c.reason).toContain('platform:clusters/store/bad.yaml:1: ConfigMap bad has no apiVersion');
    expect(app.ctx.reconciler?.opts.cluster.requests.write).toBe(writes);
    expect((await cm('a'))?.data).toEqual({ v: '2' });
  });
});

describe('re-applying a bundle held on site (rollback)', () => {
  it('goes through the same publish and sync, keeps rollback protection, and re-importing it is idempotent', async () => {
    const history = await api<{ bundles: { rootDigest: string; sequence: number; state: string }[] }>(app.url, app.token, '/api/v1/bundles');
    const first = history.body.bundles.find((b) => b.sequence === 1 && b.state === 'applied');
    expect(first).toBeDefined();
    const started = await api<{ id: string }>(app.url, app.token, `/api/v1/bundles/${first?.rootDigest}/apply`, { method: 'POST' });
    expect(started.status).toBe(202);
    const record = await waitImport(app.url, app.token, started.body.id);
    expect(record).toMatchObject({ state: 'applied', sequence: 1 });
    const c = await until('rollback sync', async () => {
      const v = await channel();
      return v?.sequence === 1 && v.sync === 'Synced' && v.lastSync?.ok && v;
    });
    expect(c.rootDigest).toBe(first?.rootDigest);
    expect((await cm('a'))?.data).toEqual({ v: '1' });
    expect(await cm('old')).toBeDefined();
    expect(await cm('bad')).toBeUndefined();

    expect(await importPath(app.url, app.token, 'seq-1.airlock')).toMatchObject({ state: 'applied', idempotent: true });
    expect(await importPath(app.url, app.token, 'seq-2.airlock')).toMatchObject({ state: 'failed', error: { code: 'ROLLBACK' } });
    const unknown = await api(app.url, app.token, `/api/v1/bundles/sha256:${'f'.repeat(64)}/apply`, { method: 'POST' });
    expect(unknown.status).toBe(404);
  });
});

describe('without a cluster', () => {
  it('imports and serves, and says it does not reconcile', async () => {
    const plain = await start(site);
    try {
      const status = await api<{ reconcile: { enabled: boolean; reason: string }; channels: ChannelView[] }>(plain.url, plain.token, '/api/v1/status');
      expect(status.body.reconcile).toMatchObject({ enabled: false, reason: expect.stringContaining('no --kubeconfig') });
    } finally {
      await plain.close();
    }
  });
});
