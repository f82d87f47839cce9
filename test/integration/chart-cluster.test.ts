/**
 * A chart from a chart repository, carried in a bundle, applied by the appliance to a real kube-apiserver: the
 * placement renders it with helm template (values layered: an override for tier=large, the site's image tag),
 * airlock applies the objects itself (images pinned at the site registry, no Helm release Secret), `airlock render`
 * shows the same objects at headquarters, and a later bundle whose chart fails on this site's values leaves the
 * placement Degraded with the error naming the chart while the objects in force stay.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSiteFile } from '../../appliance/reconcile/targets.js';
import { buildBundle } from '../../bundler/build.js';
import { parseSpec } from '../../bundler/spec.js';
import { type Site, api, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { type ChartWorld, makeChartWorld } from '../helpers/charts.js';
import { airlock } from '../helpers/cli.js';
import { type TestCluster, startCluster } from '../helpers/kube.js';
import { until } from '../helpers/until.js';

let world: ChartWorld;
let site: Site;
let kube: TestCluster;
let app: Awaited<ReturnType<typeof start>>;
let siteFile: string;

interface Deployment { spec: { replicas: number; template: { spec: { containers: { image: string }[] } } } }

function spec(replicas: string, more = ''): string {
  return `apiVersion: airlock.dev/v1
kind: Bundle
metadata: {name: shop, channel: stable}
images:
  - ${world.registry.host}/team/web:2.0   # only the site's value names it: listed so it travels (ADR 015)
manifests:
  - ./ns
charts:
  - name: web
    repo: ${world.repoUrl}
    chart: web
    version: ~1.3.0
    namespace: shop
    values:
      replicaCount: ${replicas}
      image:
        repository: ${world.registry.host}/team/web
        tag: "\${tag:=1.0}"
${more}    overrides:
      - clusterSelector: {matchLabels: {tier: large}}
        values: {replicas: "3"}
`;
}

async function bundle(sequence: number, text: string): Promise<string> {
  const specPath = join(site.dir, `shop-${sequence}.yaml`);
  await writeFile(specPath, text);
  const out = join(site.media, `shop-${sequence}.airlock`);
  await buildBundle({ spec: parseSpec(text, specPath), keys: site.trust.release, out, sequence });
  return out;
}

interface PlacementView { cluster: string; sync: string; health: string; rootDigest: string; renderErrors?: string[] }
async function placement(): Promise<PlacementView | undefined> {
  return (await api<{ placements: PlacementView[] }>(app.url, app.token, '/api/v1/status')).body.placements.find((p) => p.cluster === 'pos');
}

beforeAll(async () => {
  [world, kube] = await Promise.all([makeChartWorld(), startCluster()]);
  site = await makeSite({ layerSize: 2000 });
  await mkdir(join(site.dir, 'ns'));
  await writeFile(join(site.dir, 'ns', 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n');
  siteFile = join(site.dir, 'site.yaml');
  await writeFile(
    siteFile,
    `apiVersion: airlock.dev/v1\nkind: Site\nmetadata:\n  name: store-7\n  labels: {region: eu}\nvalues:\n  tag: "2.0"\nclusters:\n  - name: pos\n    kubeconfig: ${kube.kubeconfig}\n    labels: {tier: large}\n    values: {broken: "0"}\n`,
  );
  app = await start(site, { site: await loadSiteFile(siteFile), intervalMs: 1000, kubeTimeoutMs: 5000 });
}, 900_000);

afterAll(async () => {
  await app?.close();
  await Promise.all([kube?.stop(), world?.stop()]);
});

describe('a chart applied by the appliance', () => {
  let deployed: Deployment;

  it('renders the chart for the placement and applies it, images at the site registry, no release Secret', async () => {
    const first = await bundle(1, spec('${replicas:=1}'));
    expect(await importPath(app.url, app.token, first)).toMatchObject({ state: 'applied' });
    await until('pos Synced', async () => (await placement())?.sync === 'Synced');
    const res = await kube.request('/apis/apps/v1/namespaces/shop/deployments/web-web');
    expect(res.status).toBe(200);
    deployed = (await res.json()) as Deployment;
    expect(deployed.spec.replicas).toBe(3);
    expect(deployed.spec.template.spec.containers[0]?.image).toMatch(new RegExp(`^127\\.0\\.0\\.1:${app.port}/team/web:2\\.0@sha256:[a-f0-9]{64}$`));
    expect((await kube.request('/api/v1/namespaces/shop/configmaps/web-common')).status).toBe(200);
    const secrets = (await (await kube.request('/api/v1/namespaces/shop/secrets')).json()) as { items: { type?: string }[] };
    expect(secrets.items.filter((s) => s.type === 'helm.sh/release.v1')).toEqual([]);

    // `airlock render` at headquarters shows what landed.
    const shown = await airlock(['render', first, '--site', siteFile, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    const doc = JSON.parse(shown.stdout) as { clusters: { cluster: string; objects: { kind: string; metadata: { name: string }; spec?: { replicas?: number } }[] }[] };
    const rendered = doc.clusters.find((c) => c.cluster === 'pos')?.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'web-web');
    expect(rendered?.spec?.replicas).toBe(3);
  });

  it('a bundle whose chart fails on this site leaves the placement Degraded naming the chart, objects in force kept', async () => {
    const second = await bundle(2, spec('${broken:=1}')); // builds (default 1); the cluster's value 0 fails the schema
    expect(await importPath(app.url, app.token, second)).toMatchObject({ state: 'applied' });
    const p = await until('pos Degraded', async () => {
      const v = await placement();
      return v?.renderErrors?.length ? v : undefined;
    });
    expect(p.renderErrors?.join('\n')).toMatch(/chart web \(web 1.3.0\) on cluster pos: its values do not pass values.schema.json/);
    const still = (await (await kube.request('/apis/apps/v1/namespaces/shop/deployments/web-web')).json()) as Deployment;
    expect(still.spec.replicas).toBe(3);
    expect(still.spec.template.spec.containers[0]?.image).toBe(deployed.spec.template.spec.containers[0]?.image);
  });

  it('a chart rendering a kind the cluster lacks fails that sync naming the chart\'s file, objects in force kept', async () => {
    const third = await bundle(3, spec('${replicas:=1}', '      widget: true\n'));
    expect(await importPath(app.url, app.token, third)).toMatchObject({ state: 'applied' });
    const p = await until('pos failing on the Widget', async () => {
      const v = (await api<{ placements: (PlacementView & { reason?: string })[] }>(app.url, app.token, '/api/v1/status')).body.placements.find((x) => x.cluster === 'pos');
      return v?.reason?.includes('Widget') ? v : undefined;
    });
    expect(p.reason).toMatch(/web\/web-1\.3\.0\.yaml:\d+: Widget shop\/web-widget: the cluster has no kind Widget in widgets.example.com\/v1/);
    expect(p.sync).not.toBe('Synced');
    const still = (await (await kube.request('/apis/apps/v1/namespaces/shop/deployments/web-web')).json()) as Deployment;
    expect(still.spec.replicas).toBe(3);
    expect(still.spec.template.spec.containers[0]?.image).toBe(deployed.spec.template.spec.containers[0]?.image);
  });
});
