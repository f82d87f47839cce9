import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { OWNER_LABEL, ROOT_ANNOTATION, desiredObjects } from '../../src/kube/desired.js';
import { driftOf, renderDrift } from '../../src/kube/diff.js';
import { healthOf, worstHealth } from '../../src/kube/health.js';
import { applyOrder, pruneOrder } from '../../src/kube/order.js';
import { rewriteImage, rewriteObject } from '../../src/kube/rewrite.js';
import { parseManifests } from '../../src/manifests/documents.js';

const D = `sha256:${'d'.repeat(64)}`;
const E = `sha256:${'e'.repeat(64)}`;
const rules = {
  registry: 'airlock.local:8080',
  held: new Map([
    ['docker.io/library/nginx:1.25', D],
    ['registry.example.com:5000/team/app:2.0', E],
  ]),
};

describe('image rewrite', () => {
  it.each([
    ['nginx:1.25', `airlock.local:8080/library/nginx:1.25@${D}`],
    ['docker.io/library/nginx:1.25', `airlock.local:8080/library/nginx:1.25@${D}`],
    ['index.docker.io/library/nginx:1.25', `airlock.local:8080/library/nginx:1.25@${D}`],
    ['nginx', 'airlock.local:8080/library/nginx:latest'],
    ['bitnami/redis:7', 'airlock.local:8080/bitnami/redis:7'],
    ['registry.example.com:5000/team/app:2.0', `airlock.local:8080/team/app:2.0@${E}`],
    ['registry.example.com:5000/team/app:2.1', 'airlock.local:8080/team/app:2.1'],
    [`ghcr.io/org/tool@${E}`, `airlock.local:8080/org/tool@${E}`],
    [`nginx:1.25@${E}`, `airlock.local:8080/library/nginx:1.25@${E}`],
    ['localhost:5000/x:1', 'airlock.local:8080/x:1'],
    ['Not A Ref', 'Not A Ref'],
  ])('%s → %s', (input, output) => {
    expect(rewriteImage(input, rules)).toBe(output);
  });

  it('rewrites every container of a Pod template, and copies', () => {
    const cron = { apiVersion: 'batch/v1beta1', kind: 'CronJob', metadata: { name: 'c' }, spec: { jobTemplate: { spec: { template: { spec: { initContainers: [{ name: 'i', image: 'busybox' }], containers: [{ name: 'a', image: 'nginx:1.25' }] } } } } } };
    const out = rewriteObject(cron, rules);
    expect(JSON.stringify(out)).toContain(`airlock.local:8080/library/nginx:1.25@${D}`);
    expect(JSON.stringify(out)).toContain('airlock.local:8080/library/busybox:latest');
    expect(cron.spec.jobTemplate.spec.template.spec.containers[0]?.image).toBe('nginx:1.25');
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { image: 'nginx' } };
    expect(rewriteObject(cm, rules)).toBe(cm);
  });
});

describe('desired objects', () => {
  const docs = (text: string) => parseManifests(text, 'k8s/app.yaml');

  it('labels, annotates and rewrites', () => {
    const [web] = desiredObjects(docs('apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n  labels: {app: web}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: "nginx:1.25"}]\n'), { channel: 'stable', rootDigest: D, rules });
    expect(web?.key).toBe('apps/Deployment/shop/web');
    expect(web?.object.metadata?.labels).toEqual({ app: 'web', [OWNER_LABEL]: 'stable' });
    expect(web?.object.metadata?.annotations).toEqual({ [ROOT_ANNOTATION]: D });
    expect(JSON.stringify(web?.object)).toContain(`@${D}`);
  });

  it.each([
    ['no kind', 'apiVersion: v1\nmetadata: {name: a}\n', /k8s\/app\.yaml:1: \? a has no kind/],
    ['no name', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n', /ConfigMap \? has no metadata\.name/],
    ['no apiVersion', 'kind: ConfigMap\nmetadata: {name: a}\n', /has no apiVersion/],
    ['a bad wave', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {airlock.dev/sync-wave: soon}}\n', /sync-wave "soon" is not a whole number/],
    ['a duplicate', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n', /k8s\/app\.yaml:5: ConfigMap a is also defined at k8s\/app\.yaml:1/],
  ])('refuses %s, naming file, line and object', (_label, text, message) => {
    expect(() => desiredObjects(docs(text), { channel: 'stable', rootDigest: D, rules })).toThrow(message);
  });
});

describe('order', () => {
  it('applies Namespaces, then CRDs, then by wave, kind and name; prunes workloads before CRDs before Namespaces', () => {
    const text = [
      'apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: shop}',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a, namespace: shop, annotations: {airlock.dev/sync-wave: "-1"}}',
      'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}',
      'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}',
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}',
    ].join('\n---\n');
    const order = applyOrder(desiredObjects(parseManifests(text, 'x.yaml'), { channel: 's', rootDigest: D, rules })).map((d) => d.object.kind);
    expect(order).toEqual(['Namespace', 'CustomResourceDefinition', 'Deployment', 'ConfigMap', 'Service', 'Widget']);
    const pruned = pruneOrder([
      { apiVersion: 'v1', kind: 'Namespace', name: 'shop' },
      { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'w' },
      { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' },
    ]).map((o) => o.kind);
    expect(pruned).toEqual(['Deployment', 'CustomResourceDefinition', 'Namespace']);
  });
});

describe('drift', () => {
  const desired = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels: { a: '1' } }, spec: { replicas: 2, template: { spec: { containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80 }] }] } } } };
  const live = structuredClone({ ...desired, metadata: { ...desired.metadata, uid: 'u', resourceVersion: '9', labels: { a: '1', extra: 'y' } }, spec: { ...desired.spec, strategy: { type: 'RollingUpdate' } }, status: { replicas: 2 } }) as Record<string, unknown>;

  it('ignores fields the server adds', () => {
    expect(driftOf(desired, live)).toEqual([]);
  });

  it('reports changed, missing and resized fields with a readable diff', () => {
    const changed = structuredClone(live) as { spec: { replicas: number; template: { spec: { containers: { image: string; ports?: unknown[] }[] } } }; metadata: { labels: Record<string, string> } };
    changed.spec.replicas = 5;
    (changed.spec.template.spec.containers[0] as { image: string }).image = 'y';
    delete changed.metadata.labels.a;
    const drift = driftOf(desired, changed as unknown as Record<string, unknown>);
    expect(drift.map((d) => d.path)).toEqual(['metadata.labels.a', 'spec.replicas', 'spec.template.spec.containers[0].image']);
    expect(renderDrift(drift)).toBe('metadata.labels.a: want "1", have (absent)\nspec.replicas: want 2, have 5\nspec.template.spec.containers[0].image: want "x", have "y"');
  });
});

describe('health', async () => {
  const dir = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'fixtures', 'health');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();

  it('has fixtures for every kind it knows', () => {
    const kinds = new Set<string>();
    for (const f of files) kinds.add(f.replace(/\.yaml$/, '').split('-')[1] ?? '');
    for (const k of ['deployment', 'statefulset', 'daemonset', 'replicaset', 'job', 'pod', 'service', 'pvc', 'crd', 'namespace', 'configmap']) expect(kinds).toContain(k);
  });

  it.each(files)('%s', async (file) => {
    const expected = file.split('-')[0];
    const object = parse(await readFile(join(dir, file), 'utf8')) as Record<string, unknown>;
    expect(healthOf(object).health.toLowerCase()).toBe(expected);
  });

  it('says Missing for an absent object, and a channel is as healthy as its worst object', () => {
    expect(healthOf(undefined).health).toBe('Missing');
    expect(worstHealth(['Healthy', 'Progressing'])).toBe('Progressing');
    expect(worstHealth(['Healthy', 'Missing'])).toBe('Progressing');
    expect(worstHealth(['Progressing', 'Degraded'])).toBe('Degraded');
    expect(worstHealth(['Healthy'])).toBe('Healthy');
  });
});

describe('drift of Secrets', () => {
  it('compares stringData with the base64 data the server stores', () => {
    const want = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { password: 'hunter2' } };
    expect(driftOf(want, { ...want, stringData: undefined, data: { password: Buffer.from('hunter2').toString('base64') } })).toEqual([]);
    expect(driftOf(want, { ...want, stringData: undefined, data: { password: Buffer.from('other').toString('base64') } }).map((d) => d.path)).toEqual(['data.password']);
  });
});
