/**
 * Sync against a real kube-apiserver (1.20, with etcd and kube-controller-manager): apply of a mixed set, a
 * second set that changes one object and drops another (pruned), an unowned object beside them (never touched),
 * an edit by another field manager (drift reported; a sync reports the conflict; healing takes it back), and a
 * check of an unchanged set that sends no write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { desiredObjects } from '../../src/kube/desired.js';
import { parseManifests } from '../../src/manifests/documents.js';
import { Cluster } from '../../appliance/reconcile/cluster.js';
import { type InventoryEntry, checkChannel, heal, syncChannel } from '../../appliance/reconcile/sync.js';
import { type TestCluster, startCluster } from '../helpers/kube.js';

let kube: TestCluster;
let cluster: Cluster;
const ROOT = `sha256:${'a'.repeat(64)}`;
const rules = { registry: '127.0.0.1:5000', held: new Map<string, string>() };

const MIXED = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, x-kubernetes-preserve-unknown-fields: true}}}}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: gear, namespace: shop}
spec: {size: 3}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: "a"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
stringData: {password: hunter2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.25"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, protocol: TCP}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: "busybox:1.36", command: ["true"]}]
`;

const desired = (text: string) => desiredObjects(parseManifests(text, 'k8s/app.yaml'), { channel: 'stable', rootDigest: ROOT, rules });
const get = async (path: string) => {
  const res = await kube.request(path);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { metadata?: { labels?: Record<string, string> }; data?: Record<string, string>; spec?: Record<string, unknown> } };
};

beforeAll(async () => {
  kube = await startCluster();
  const connected = Cluster.connect(kube.kubeconfig);
  if (!connected) throw new Error('no cluster');
  cluster = connected;
}, 900_000);

afterAll(async () => {
  await kube?.stop();
});

describe('sync against a real API server', () => {
  let inventory: InventoryEntry[] = [];

  it('applies a mixed set in order, labelled and annotated', async () => {
    const out = await syncChannel(cluster, desired(MIXED), [], { channel: 'stable' });
    inventory = out.inventory;
    expect(out.applied).toHaveLength(8);
    expect(out.applied[0]).toBe('/Namespace//shop');
    expect(out.applied.at(-1)).toBe('example.com/Widget/shop/gear');
    const cm = await get('/api/v1/namespaces/shop/configmaps/settings');
    expect(cm.body.metadata?.labels?.['airlock.dev/owner']).toBe('stable');
    const widget = await get('/apis/example.com/v1/namespaces/shop/widgets/gear');
    expect(widget.body.spec).toEqual({ size: 3 });
    const deploy = await get('/apis/apps/v1/namespaces/shop/deployments/web');
    expect(JSON.stringify(deploy.body)).toContain('127.0.0.1:5000/library/nginx:1.25');
  });

  it('reports nothing drifted and sends no write when nothing changed', async () => {
    const before = { ...cluster.requests };
    const status = await checkChannel(cluster, desired(MIXED));
    expect(status.filter((s) => s.sync !== 'Synced').map((s) => `${s.key}: ${s.diff ?? s.sync}`)).toEqual([]);
    expect(cluster.requests.write).toBe(before.write);
    expect(status.find((s) => s.kind === 'Deployment')?.health).toBe('Progressing'); // no scheduler or kubelet here
    expect(status.find((s) => s.kind === 'ConfigMap')?.health).toBe('Healthy');
  });

  it('prunes what the next set drops, changes what it changes, and never touches unowned objects', async () => {
    await kube.request('/api/v1/namespaces/shop/configmaps', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'theirs' }, data: { x: '1' } }) });
    const next = MIXED.replace('data: {mode: "a"}', 'data: {mode: "b"}').replace(/---\napiVersion: v1\nkind: Secret[\s\S]*?hunter2}\n/, '');
    const out = await syncChannel(cluster, desired(next), inventory, { channel: 'stable' });
    inventory = out.inventory;
    expect(out.pruned).toEqual(['/Secret/shop/creds']);
    expect((await get('/api/v1/namespaces/shop/secrets/creds')).status).toBe(404);
    expect((await get('/api/v1/namespaces/shop/configmaps/settings')).body.data).toEqual({ mode: 'b' });
    expect((await get('/api/v1/namespaces/shop/configmaps/theirs')).status).toBe(200);
  });

  it('reports an edit by another field manager as drift and a conflict; healing takes the field back', async () => {
    const next = MIXED.replace('data: {mode: "a"}', 'data: {mode: "b"}').replace(/---\napiVersion: v1\nkind: Secret[\s\S]*?hunter2}\n/, '');
    const edit = await kube.request('/api/v1/namespaces/shop/configmaps/settings?fieldManager=kubectl-edit', {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ data: { mode: 'hacked' } }),
    });
    expect(edit.status).toBe(200);
    const status = await checkChannel(cluster, desired(next));
    const drifted = status.filter((s) => s.sync === 'OutOfSync');
    expect(drifted.map((s) => s.key)).toEqual(['/ConfigMap/shop/settings']);
    expect(drifted[0]?.diff).toBe('data.mode: want "b", have "hacked"');

    await expect(syncChannel(cluster, desired(next), inventory, { channel: 'stable' })).rejects.toMatchObject({ code: 'KUBE_CONFLICT' });
    expect((await get('/api/v1/namespaces/shop/configmaps/settings')).body.data).toEqual({ mode: 'hacked' });

    expect(await heal(cluster, desired(next), new Set(drifted.map((s) => s.key)))).toEqual(['/ConfigMap/shop/settings']);
    expect((await get('/api/v1/namespaces/shop/configmaps/settings')).body.data).toEqual({ mode: 'b' });
  });

  it('refuses an unknown kind or a namespace nowhere, before any write, naming file and object', async () => {
    const writes = cluster.requests.write;
    const bad = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lost, namespace: nowhere}\n---\napiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n';
    const err = await syncChannel(cluster, desired(bad), inventory, { channel: 'stable' }).catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: 'KUBE_INVALID' });
    expect(String(err)).toContain('k8s/app.yaml:1: ConfigMap nowhere/lost: namespace nowhere is neither in the bundle nor in the cluster');
    expect(String(err)).toContain('k8s/app.yaml:5: Gadget g: the cluster has no kind Gadget in example.com/v1');
    expect(cluster.requests.write).toBe(writes);
  });

  it('fails the dry run of an invalid object before any write', async () => {
    const writes = cluster.requests.write;
    const bad = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine, namespace: shop}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken, namespace: shop}\nspec: {replicas: "many"}\n';
    await expect(syncChannel(cluster, desired(bad), inventory, { channel: 'stable' })).rejects.toMatchObject({ code: 'KUBE_INVALID' });
    expect((await get('/api/v1/namespaces/shop/configmaps/fine')).status).toBe(404);
    expect(cluster.requests.write - writes).toBe(2); // the two dry runs
  });
});
