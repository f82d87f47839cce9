/**
 * On-site render per placement with the real helm and kustomize: a bundle with a chart (from a chart repository)
 * and a Git source holding Kustomize overlays is read as `airlock render` reads it, expanded per cluster
 * (src/charts/expand.ts) and rendered by the pure render. Two clusters with different labels and values get
 * different objects; values layer as FLEET.md says; bad values and a kustomization leaving its repository fail
 * naming the chart or path; a missing binary is an error only where a bundle needs it.
 */
import { join } from 'node:path';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../bundler/build.js';
import { loadBundleForRender } from '../../bundler/render-bundle.js';
import { parseSpec } from '../../bundler/spec.js';
import { chartExpander } from '../../src/charts/expand.js';
import type { ExpandableSource } from '../../src/charts/sources.js';
import { Tools } from '../../src/charts/tools.js';
import type { KubeObject } from '../../src/manifests/documents.js';
import { type RenderCluster, type RenderSite, renderCluster } from '../../src/render/render.js';
import type { RenderSource } from '../../src/render/types.js';
import { type ChartWorld, makeChartWorld } from '../helpers/charts.js';
import { gitCommit, gitInit } from '../helpers/git-repo.js';
import { type TestTrust, makeTrust } from '../helpers/trust.js';

let world: ChartWorld;
let trust: TestTrust;
let sources: RenderSource[];
const tools = new Tools();
const expand = chartExpander(tools);

const site: RenderSite = { name: 'store-17', labels: { region: 'eu' }, values: { storeId: 'berlin-17', tag: '2.0' } };
const big: RenderCluster = { name: 'big', labels: { tier: 'large' }, values: {} };
const small: RenderCluster = { name: 'small', labels: { tier: 'small' }, values: { replicas: '2' } };

beforeAll(async () => {
  world = await makeChartWorld();
  trust = makeTrust();
  const repo = join(world.dir, 'platform');
  await gitInit(repo);
  const overlay = (prefix: string) => `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: ${prefix}-\nresources:\n  - ../../base\n`;
  await gitCommit(
    repo,
    {
      'base/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - store.yaml\n',
      'base/store.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: store-config\n  namespace: shop\ndata:\n  store: "${storeId}"\n',
      'overlays/prod/kustomization.yaml': overlay('prod'),
      'overlays/small/kustomization.yaml': overlay('small'),
    },
    'overlays',
  );
  const text = [
    'apiVersion: airlock.dev/v1',
    'kind: Bundle',
    'metadata:',
    '  name: store',
    'git:',
    '  - name: platform',
    '    url: ./platform',
    '    ref: main',
    '    manifests: overlays/prod',
    '    overrides:',
    '      - clusterSelector: {matchLabels: {tier: small}}',
    '        overlay: overlays/small',
    'charts:',
    '  - name: web',
    `    repo: ${world.repoUrl}`,
    '    chart: web',
    '    version: ^1.2',
    '    namespace: shop',
    '    values:',
    '      replicaCount: ${replicas:=1}',
    '      image:',
    `        repository: ${world.registry.host}/team/web`,
    '        tag: "${tag:=1.0}"',
    '    overrides:',
    '      - clusterSelector: {matchLabels: {tier: large}}',
    '        values: {replicas: "3"}',
    '',
  ].join('\n');
  const file = join(world.dir, 'render.yaml');
  await writeFile(file, text);
  const out = join(world.dir, 'render.airlock');
  await buildBundle({ spec: parseSpec(text, file), keys: trust.release, out });
  sources = (await loadBundleForRender(out, trust.trust, new Date())).sources;
}, 120_000);

afterAll(async () => {
  await world?.stop();
});

async function render(s: RenderSite, c: RenderCluster): Promise<KubeObject[]> {
  const r = renderCluster(await expand(sources, s, c), s, c);
  expect(r.errors).toEqual([]);
  return r.documents.map((d) => d.object);
}

function find(objects: KubeObject[], kind: string, name: string): KubeObject & { spec?: Record<string, unknown>; data?: Record<string, string> } {
  const o = objects.find((x) => x.kind === kind && x.metadata?.name === name);
  if (!o) throw new Error(`${kind} ${name} not rendered; got ${objects.map((x) => `${x.kind}/${x.metadata?.name}`).join(', ')}`);
  return o;
}

function container(d: KubeObject): { image: string; env: { name: string; value: string }[] } {
  return ((d.spec as { template: { spec: { containers: { image: string; env: { name: string; value: string }[] }[] } } }).template.spec.containers[0])!;
}

describe('charts and overlays rendered per cluster', () => {
  it('gives two clusters with different labels and values different objects', async () => {
    const onBig = await render(site, big);
    const onSmall = await render(site, small);
    const bigWeb = find(onBig, 'Deployment', 'web-web');
    const smallWeb = find(onSmall, 'Deployment', 'web-web');
    expect(bigWeb.spec?.replicas).toBe(3); // the override for tier=large
    expect(smallWeb.spec?.replicas).toBe(2); // the cluster's value
    expect(container(bigWeb).image).toBe(`${world.registry.host}/team/web:2.0`); // the site's tag
    expect(bigWeb.metadata?.namespace).toBe('shop');
    // The chart's own `${HOME}` is text, not an airlock value; the dependency's objects are there.
    expect(container(bigWeb).env).toContainEqual({ name: 'SCRIPT', value: 'echo ${HOME}' });
    find(onBig, 'ConfigMap', 'web-common');
    // Kustomize: the manifests path on one cluster, the override's overlay on the other; values substituted after the build.
    expect(find(onBig, 'ConfigMap', 'prod-store-config').data).toEqual({ store: 'berlin-17' });
    expect(find(onSmall, 'ConfigMap', 'small-store-config').data).toEqual({ store: 'berlin-17' });
    expect(onSmall.some((o) => o.metadata?.name === 'prod-store-config')).toBe(false);
    // No Helm release state anywhere.
    expect([...onBig, ...onSmall].some((o) => o.kind === 'Secret')).toBe(false);
  });

  it('a site without a tag gets the default of the spec', async () => {
    const plainSite: RenderSite = { name: 'store-1', labels: {}, values: { storeId: '1' } };
    const web = find(await render(plainSite, { name: 'local', labels: {}, values: {} }), 'Deployment', 'web-web');
    expect(web.spec?.replicas).toBe(1);
    expect(container(web).image).toBe(`${world.registry.host}/team/web:1.0`);
  });

  it('refuses a value that would inject structure into the chart values, naming the chart', async () => {
    // replicaCount: ${replicas} is unquoted: a mapping there would change the values' shape.
    const evil: RenderSite = { ...site, values: { ...site.values, replicas: '{evil: 1}' } };
    await expect(expand(sources, evil, big)).rejects.toThrow(/chart web \(web 1.3.0\) on cluster big: values 1: .*replicas/);
    // Inside quotes the same text is only a string: the tag becomes "{evil: 1}", which the image then carries.
    const quoted = await expand(sources, { ...site, values: { ...site.values, tag: 'x{y}' } }, big);
    expect(quoted.find((s) => s.kind === 'chart')?.files[0]?.text).toContain('team/web:x{y}');
  });

  it('a value the chart schema refuses fails naming the chart', async () => {
    await expect(expand(sources, site, { ...big, values: { replicas: '0' } })).rejects.toThrow(/chart web \(web 1.3.0\) on cluster big: its values do not pass values.schema.json/);
  });

  it('refuses a kustomization that leaves its repository', async () => {
    const escaping: ExpandableSource = {
      kind: 'git',
      name: 'sneaky',
      files: [],
      kustomize: { manifests: 'app', overlays: [], files: [{ path: 'app/kustomization.yaml', content: Buffer.from('resources:\n  - ../../outside\n') }] },
    };
    await expect(expand([escaping], site, big)).rejects.toThrow('git sneaky (app): app/kustomization.yaml refers to ../../outside, which is outside its repository');
    const remote: ExpandableSource = { ...escaping, kustomize: { manifests: 'app', overlays: [], files: [{ path: 'app/kustomization.yaml', content: Buffer.from('resources:\n  - https://github.com/acme/base//app?ref=v1\n') }] } };
    await expect(expand([remote], site, big)).rejects.toThrow(/refers to the remote https:\/\/github.com\/acme\/base/);
  });

  it('needs helm only for bundles with charts', async () => {
    const none = chartExpander(new Tools({ path: join(world.dir, 'no-tools-here') }));
    const plain = sources.filter((s) => s.kind === 'manifests');
    await expect(none(plain, site, big)).resolves.toEqual(plain);
    await expect(none(sources.filter((s) => s.kind === 'chart'), site, big)).rejects.toThrow(/chart web \(web 1.3.0\) needs helm, which is not on PATH: install helm .* or give its path with --helm/);
    const kustomizeOnly = sources.filter((s) => s.kind === 'git');
    await expect(none(kustomizeOnly, site, big)).rejects.toThrow(/git platform needs kustomize, and neither kustomize nor kubectl is on PATH/);
  });

  it('runs helm again only when what the chart is templated with changes', async () => {
    // A helm that notes each run, then runs the real one.
    const log = join(world.dir, 'helm-runs.log');
    const wrapper = join(world.dir, 'helm-counting');
    const real = (await import('node:child_process')).execFileSync('sh', ['-c', 'command -v helm'], { encoding: 'utf8' }).trim();
    await writeFile(wrapper, `#!/bin/sh\necho "$1" >> "${log}"\nexec "${real}" "$@"\n`);
    await chmod(wrapper, 0o755);
    const counting = chartExpander(new Tools({ helm: wrapper }));
    const runs = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l === 'template').length;
    const first = await counting(sources, site, big);
    expect(await counting(sources, site, big)).toEqual(first);
    expect(await runs()).toBe(1);
    await counting(sources, site, small); // other values (replicas 2): rendered again
    expect(await runs()).toBe(2);
    await counting(sources, { ...site, values: { ...site.values, tag: '3.0' } }, big);
    expect(await runs()).toBe(3);
  });
});
