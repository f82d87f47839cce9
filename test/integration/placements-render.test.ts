/**
 * Each placement applies its own render, on two real kube-apiservers that are two clusters of one site file with
 * different labels (and a third, `reconcile: none`, with east's labels, that is only rendered to its branch):
 * an app placed on `role: pos` only; an override patching replicas on `tier: large`; a site value substituted; a
 * value missing on one cluster fails that placement only (Degraded with the errors, its objects in force kept,
 * the other proceeds); the `CHANNEL/CLUSTER` branches of /git/rendered.git cloned by real git equal what airlock
 * applied; and `airlock render` (the real executable) shows exactly what lands in the cluster.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadSiteFile } from '../../appliance/reconcile/targets.js';
import { verificationReport } from '../../appliance/report.js';
import { clusterPage } from '../../appliance/ui/cluster-page.js';
import { importDetail } from '../../appliance/ui/import-detail.js';
import { buildBundle } from '../../bundler/build.js';
import { parseSpec } from '../../bundler/spec.js';
import { driftOf } from '../../src/kube/diff.js';
import type { KubeObject } from '../../src/manifests/documents.js';
import { type Site, api, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { airlock } from '../helpers/cli.js';
import { type TestCluster, startCluster } from '../helpers/kube.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);
let site: Site;
let east: TestCluster;
let west: TestCluster;
let app: Awaited<ReturnType<typeof start>>;
let siteFile: string;

const SPEC = `apiVersion: airlock.dev/v1
kind: Bundle
metadata: {name: shop, channel: stable}
discoverImages: false
images:
  - oci:./layout:team/app:1.0
values:
  replicas: "1"
manifests:
  - ./common
  - path: ./app
    placement:
      clusterSelector:
        matchExpressions: [{key: role, operator: In, values: [pos]}]
    overrides:
      - clusterSelector: {matchLabels: {tier: large}}
        patches:
          - {target: {kind: Deployment, name: web, namespace: shop}, op: replace, path: /spec/replicas, value: "\${largeReplicas}"}
`;

const common = (v: string) =>
  `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: store\n  namespace: shop\ndata:\n  store: "\${storeNumber}"\n  v: "${v}"\n`;
const web = (env: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: \${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: team/app:1.0
          env:
            - {name: STORE, value: "\${storeNumber}"}${env}
`;

async function bundle(sequence: number, files: Record<string, string>): Promise<string> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(site.dir, path, '..'), { recursive: true });
    await writeFile(join(site.dir, path), text);
  }
  const specPath = join(site.dir, 'airlock.yaml');
  await writeFile(specPath, SPEC);
  const out = join(site.media, `shop-${sequence}.airlock`);
  await buildBundle({ spec: parseSpec(SPEC, specPath), keys: site.trust.release, out, sequence });
  return out;
}

interface PlacementView {
  cluster: string;
  sync: string;
  health: string;
  rootDigest: string;
  reason?: string;
  renderErrors?: string[];
}

async function placement(cluster: string): Promise<PlacementView | undefined> {
  return (await api<{ placements: PlacementView[] }>(app.url, app.token, '/api/v1/status')).body.placements.find((p) => p.cluster === cluster);
}

async function live(kube: TestCluster, o: KubeObject): Promise<Record<string, unknown> | undefined> {
  const ns = o.metadata?.namespace;
  const path =
    o.kind === 'Namespace' ? `/api/v1/namespaces/${o.metadata?.name}` : o.kind === 'Deployment' ? `/apis/apps/v1/namespaces/${ns}/deployments/${o.metadata?.name}` : `/api/v1/namespaces/${ns}/configmaps/${o.metadata?.name}`;
  const res = await kube.request(path);
  return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined;
}

/** Every object of the kinds the bundle uses that carries a cluster's placement label. */
async function placed(kube: TestCluster, cluster: string): Promise<string[]> {
  const out: string[] = [];
  for (const path of ['/api/v1/namespaces', '/api/v1/configmaps', '/apis/apps/v1/deployments']) {
    const res = await kube.request(`${path}?labelSelector=${encodeURIComponent(`airlock.dev/cluster=${cluster}`)}`);
    const list = (await res.json()) as { items: KubeObject[] };
    for (const o of list.items) out.push(`${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`);
  }
  return out.sort();
}

async function branchTree(branch: string, dir: string): Promise<Record<string, string>> {
  await run('git', ['clone', '-q', '-b', branch, `${app.url}/git/rendered.git`, dir]);
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name === '.git') continue;
      if (e.isDirectory()) await walk(join(d, e.name));
      else out[relative(dir, join(d, e.name))] = await readFile(join(d, e.name), 'utf8');
    }
  };
  await walk(dir);
  return out;
}

async function branchRoot(branch: string): Promise<string | undefined> {
  const refs = (await run('git', ['ls-remote', `${app.url}/git/rendered.git`])).stdout;
  return refs.includes(`refs/heads/${branch}`) ? refs : undefined;
}

beforeAll(async () => {
  [east, west] = await Promise.all([startCluster(), startCluster()]);
  site = await makeSite();
  siteFile = join(site.dir, 'site.yaml');
  await writeFile(
    siteFile,
    `apiVersion: airlock.dev/v1\nkind: Site\nmetadata:\n  name: store-0042\n  labels: {region: eu}\nvalues:\n  storeNumber: "0042"\nclusters:\n  - name: east\n    kubeconfig: ${east.kubeconfig}\n    labels: {role: pos, tier: large}\n    values: {largeReplicas: "3"}\n  - name: west\n    kubeconfig: ${west.kubeconfig}\n    labels: {role: cameras, tier: small}\n  - name: mirror\n    kubeconfig: ${east.kubeconfig}\n    labels: {role: pos, tier: large}\n    values: {largeReplicas: "3"}\n    reconcile: none\n`,
  );
  app = await start(site, { site: await loadSiteFile(siteFile), intervalMs: 1000, kubeTimeoutMs: 5000 });
}, 900_000);

afterAll(async () => {
  await app?.close();
  await Promise.all([east?.stop(), west?.stop()]);
});

describe('each placement applies its own render', () => {
  let first: string;
  let rootOne: string;

  it('places the app on role=pos only, patches replicas on tier=large, substitutes the site value', async () => {
    first = await bundle(1, { 'common/all.yaml': common('1'), 'app/web.yaml': web('') });
    expect(await importPath(app.url, app.token, first)).toMatchObject({ state: 'applied' });
    for (const c of ['east', 'west']) await until(`${c} Synced`, async () => (await placement(c))?.sync === 'Synced');
    rootOne = (await placement('east'))?.rootDigest ?? '';
    const deployment = (await live(east, { kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' } })) as { spec: { replicas: number; template: { spec: { containers: { image: string; env: { value: string }[] }[] } } } };
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.template.spec.containers[0]?.env[0]?.value).toBe('0042');
    expect(deployment.spec.template.spec.containers[0]?.image).toMatch(new RegExp(`^127\\.0\\.0\\.1:${app.port}/team/app:1\\.0@sha256:[a-f0-9]{64}$`));
    expect(await live(west, { kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' } })).toBeUndefined();
    expect(((await live(west, { kind: 'ConfigMap', metadata: { name: 'store', namespace: 'shop' } })) as { data: Record<string, string> }).data).toEqual({ store: '0042', v: '1' });
    expect(await placed(east, 'east')).toEqual(['/shop', 'shop/store', 'shop/web']);
    expect(await placed(west, 'west')).toEqual(['/shop', 'shop/store']);
    // the cluster that is only rendered gets no loop and nothing is written for it
    expect(await placed(east, 'mirror')).toEqual([]);
    expect((await placement('mirror'))).toBeUndefined();
  });

  it('serves each placement as a CHANNEL/CLUSTER branch of /git/rendered.git that equals what was applied', async () => {
    await until('the branches', async () => (await branchRoot('stable/mirror')) && (await branchRoot('stable/west')) && (await branchRoot('stable/east')));
    const tree = await branchTree('stable/east', join(site.dir, 'clone-east'));
    expect(Object.keys(tree)).toEqual(['Namespace_shop.yaml', 'shop/ConfigMap_store.yaml', 'shop/Deployment.apps_web.yaml']);
    for (const text of Object.values(tree)) {
      const o = parse(text) as KubeObject;
      const there = await live(east, o);
      expect(there, `${o.kind} ${o.metadata?.name}`).toBeDefined();
      expect(driftOf(o as Record<string, unknown>, there ?? {})).toEqual([]);
    }
    const log = (await run('git', ['-C', join(site.dir, 'clone-east'), 'log', '--format=%an%n%B'])).stdout;
    expect(log).toContain('airlock\nshop sequence 1 for east');
    expect(log).toContain(`Airlock-Root: ${rootOne}`);
    expect(log).toContain('Airlock-Sequence: 1');
    // `reconcile: none` with east's labels: the same tree but for the cluster label
    const mirror = await branchTree('stable/mirror', join(site.dir, 'clone-mirror'));
    expect(Object.fromEntries(Object.entries(mirror).map(([k, v]) => [k, v.replaceAll('airlock.dev/cluster: mirror', 'airlock.dev/cluster: east')]))).toEqual(tree);
    expect(Object.keys(await branchTree('stable/west', join(site.dir, 'clone-west')))).toEqual(['Namespace_shop.yaml', 'shop/ConfigMap_store.yaml']);
  });

  it('airlock render shows exactly what landed in each cluster and what the branches hold', async () => {
    const renderSite = join(site.dir, 'render-site.yaml');
    await writeFile(renderSite, `${await readFile(siteFile, 'utf8')}registryHost: 127.0.0.1:${app.port}\n`);
    const r = await airlock(['render', first, '--site', renderSite, '--trust', site.trustPath, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { clusters: { cluster: string; ok: boolean; objects: KubeObject[] }[] };
    for (const [name, kube] of [['east', east], ['west', west]] as const) {
      const objects = doc.clusters.find((c) => c.cluster === name)?.objects ?? [];
      expect(objects.map((o) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`).sort()).toEqual(await placed(kube, name));
      for (const o of objects) expect(driftOf(o as Record<string, unknown>, (await live(kube, o)) ?? {})).toEqual([]);
    }
    const tree = await branchTree('stable/east', join(site.dir, 'clone-east-2'));
    const rendered = doc.clusters.find((c) => c.cluster === 'east')?.objects ?? [];
    expect(Object.values(tree).map((t) => parse(t) as unknown)).toEqual(expect.arrayContaining(rendered));
    expect(Object.keys(tree)).toHaveLength(rendered.length);
  });

  it('a value missing on one cluster fails that placement only: Degraded with the errors, its objects kept, the other proceeds', async () => {
    const second = await bundle(2, { 'common/all.yaml': common('2'), 'app/web.yaml': web('\n            - {name: GATEWAY, value: "${gateway}"}') });
    const imported = await importPath(app.url, app.token, second);
    expect(imported).toMatchObject({ state: 'applied' });
    const failed = await until('east Degraded', async () => {
      const p = await placement('east');
      return p?.health === 'Degraded' && p.renderErrors ? p : undefined;
    });
    expect(failed.renderErrors).toEqual([expect.stringMatching(/^\.\/app\/web\.yaml:17: Deployment shop\/web: variable "gateway" has no value and no default/)]);
    expect(failed.reason).toMatch(/the render for cluster east failed, nothing of it was applied/);
    const westNow = await until('west at sequence 2', async () => {
      const p = await placement('west');
      return p?.sync === 'Synced' && p.rootDigest !== rootOne ? p : undefined;
    });
    expect(((await live(west, { kind: 'ConfigMap', metadata: { name: 'store', namespace: 'shop' } })) as { data: Record<string, string> }).data.v).toBe('2');
    const eastStore = (await live(east, { kind: 'ConfigMap', metadata: { name: 'store', namespace: 'shop' } })) as { data: Record<string, string>; metadata: { annotations: Record<string, string> } };
    expect(eastStore.data.v).toBe('1');
    expect(eastStore.metadata.annotations['airlock.dev/bundle-root']).toBe(rootOne);

    // The branches: west moves on, east and mirror stay at the last render that worked.
    await until('west branch at sequence 2', async () => (await run('git', ['ls-remote', `${app.url}/git/rendered.git`, 'refs/heads/stable/west'])).stdout.trim() !== '' && app.ctx.reconciler?.branches().find((b) => b.branch === 'stable/west')?.rootDigest === westNow.rootDigest);
    const eastBranch = app.ctx.reconciler?.branches().find((b) => b.branch === 'stable/east');
    expect(eastBranch).toMatchObject({ rootDigest: rootOne, errors: [expect.stringMatching(/variable "gateway"/)] });
    const log = (await run('git', ['-C', join(site.dir, 'clone-east'), 'pull', '-q']).then(() => run('git', ['-C', join(site.dir, 'clone-east'), 'log', '--format=%s']))).stdout.trim();
    expect(log).toBe('shop sequence 1 for east');

    // The import's report and the Cluster page say so, per cluster.
    const record = app.ctx.state.getImport(imported.id);
    const report = await verificationReport(app.ctx, record ?? (undefined as never));
    expect(report.clusters?.map((c) => `${c.cluster}:${c.ok}:${c.objects}`)).toEqual(['east:false:0', 'west:true:2', 'mirror:false:0']);
    expect(report.clusters?.find((c) => c.cluster === 'west')).toMatchObject({ placed: ['manifests ./common'], notPlaced: ['manifests ./app (role in (pos))'], values: ['storeNumber=0042 (site store-0042)'] });
    expect(report.clusters?.find((c) => c.cluster === 'east')?.errors[0]).toMatch(/variable "gateway"/);
    const detail = String(await importDetail(app.ctx, record ?? (undefined as never)));
    expect(detail).toContain('<section class="cluster-plan" data-cluster="east" data-ok="false">');
    expect(detail).toContain('<section class="cluster-plan" data-cluster="west" data-ok="true">');
    expect(detail).toContain('(rendered to its branch only)');
    const page = String(clusterPage(app.ctx, 'east'));
    expect(page).toContain('render-errors');
    expect(page).toContain('variable &quot;gateway&quot;');
  });
});
