/**
 * Charts in a bundle, end to end with real parts: a chart repository served over HTTP (index.yaml by
 * `helm repo index`), an OCI chart pushed with `helm push` to a real docker-registry, a local chart directory
 * with a dependency; versions resolved from ranges; images the rendered chart names (with the spec's values and
 * each override's) carried; and every bad input a clear error naming the chart, leaving no output file.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../bundler/build.js';
import { parseSpec } from '../../bundler/spec.js';
import { inspectBundleFile } from '../../bundler/verify.js';
import { Tools } from '../../src/charts/tools.js';
import { type ChartWorld, CHART_FIXTURES, makeChartWorld, serveDir } from '../helpers/charts.js';
import { type TestTrust, makeTrust } from '../helpers/trust.js';
import { gitCommit, gitInit } from '../helpers/git-repo.js';

let world: ChartWorld;
let trust: TestTrust;

beforeAll(async () => {
  world = await makeChartWorld();
  trust = makeTrust();
}, 120_000);

afterAll(async () => {
  await world?.stop();
});

function specText(charts: string, extra = ''): string {
  return `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: store\n${extra}charts:\n${charts}`;
}

function webValues(indent: string, more = ''): string {
  return `${indent}values:\n${indent}  replicaCount: \${replicas:=1}\n${indent}  image:\n${indent}    repository: ${world.registry.host}/team/web\n${indent}    tag: "\${tag:=1.0}"\n${more}`;
}

async function build(text: string, name = `b-${Math.random().toString(36).slice(2, 8)}`) {
  const file = join(world.dir, `${name}.yaml`);
  await writeFile(file, text);
  const out = join(world.dir, `${name}.airlock`);
  return { out, run: () => buildBundle({ spec: parseSpec(text, file), keys: trust.release, out }) };
}

describe('charts from a repository, a registry and a directory', () => {
  it('resolves a range against the repository index, records the version and carries the images of every override', async () => {
    const { out, run } = await build(
      specText(
        `  - name: web\n    repo: ${world.repoUrl}\n    chart: web\n    version: ^1.2\n    namespace: shop\n${webValues('    ')}    overrides:\n      - clusterSelector:\n          matchLabels: {tier: large}\n        values: {replicas: "3", tag: "2.0"}\n`,
      ),
    );
    const result = await run();
    expect(result.charts).toEqual([{ name: 'web', chart: 'web', version: '1.3.0' }]);
    expect(result.images.map((i) => i.name).sort()).toEqual([`${world.registry.host}/team/web:1.0`, `${world.registry.host}/team/web:2.0`]);
    const report = await inspectBundleFile(out);
    expect(report.charts).toEqual([expect.objectContaining({ name: 'web', chart: 'web', version: '1.3.0', requested: '^1.2', ref: 'charts/web:1.3.0' })]);
    // The archive travels as downloaded: the same bytes (and digest) as the repository's.
    const archive = await readFile(join(world.repoDir, 'web-1.3.0.tgz'));
    expect(report.charts?.[0]?.digest).toMatch(/^sha256:/);
    const bundleBytes = await readFile(out);
    expect(bundleBytes.includes(archive)).toBe(true);
  });

  it('takes an OCI chart pushed with helm push, exact and by range', async () => {
    const { run } = await build(
      specText(
        `  - name: exact\n    chart: oci://${world.registry.host}/charts/web\n    version: 1.3.0\n${webValues('    ')}` +
          `  - name: tilde\n    chart: oci://${world.registry.host}/charts/web\n    version: ~1.2.0\n    releaseName: older\n${webValues('    ')}`,
      ),
    );
    const result = await run();
    expect(result.charts).toEqual([
      { name: 'exact', chart: 'web', version: '1.3.0' },
      { name: 'tilde', chart: 'web', version: '1.2.0' },
    ]);
  });

  it('packages a local chart directory with its dependency built', async () => {
    const local = await mkdtemp(join(world.dir, 'local-'));
    await cp(CHART_FIXTURES, local, { recursive: true });
    expect(existsSync(join(local, 'web', 'charts'))).toBe(false);
    const { out, run } = await build(specText(`  - name: local\n    chart: ./${local.slice(world.dir.length + 1)}/web\n    version: 1.2.x\n${webValues('    ')}`));
    const result = await run();
    expect(result.charts).toEqual([{ name: 'local', chart: 'web', version: '1.2.0' }]);
    const report = await inspectBundleFile(out);
    expect(report.charts?.[0]?.from).toContain('web');
    expect(existsSync(join(local, 'web', 'charts', 'common-0.1.0.tgz'))).toBe(true);
  });
});

describe('bad charts stop the build, naming the chart, and leave no output', () => {
  const cases: { what: string; entry: () => string; error: RegExp }[] = [
    { what: 'a chart not in the repository', entry: () => `  - name: missing\n    repo: ${world.repoUrl}\n    chart: nope\n    version: 1.0.0\n`, error: /chart missing \(.*:\d+\): chart nope was not found in http/ },
    { what: 'an OCI chart not in the registry', entry: () => `  - name: gone\n    chart: oci://${world.registry.host}/charts/gone\n    version: ^1\n`, error: /chart gone \(.*\): oci:\/\/.*charts\/gone was not found/ },
    { what: 'a range matching nothing', entry: () => `  - name: web\n    repo: ${world.repoUrl}\n    chart: web\n    version: ">=2.0.0"\n`, error: /chart web \(.*\): no version of web in .* matches >=2.0.0 \(it has: 1.3.0, 1.2.0\)/ },
    { what: 'an OCI version that does not exist', entry: () => `  - name: web\n    chart: oci://${world.registry.host}/charts/web\n    version: 9.9.9\n`, error: /chart web \(.*\): .*version 9.9.9 was not found/ },
    { what: 'a template error', entry: () => `  - name: broken\n    repo: ${world.repoUrl}\n    chart: web\n    version: 1.2.0\n${webValues('    ', '      fail: true\n')}`, error: /chart broken \(.*\): helm template failed: .*the values ask this chart to fail/ },
    { what: 'values failing values.schema.json', entry: () => `  - name: schema\n    repo: ${world.repoUrl}\n    chart: web\n    version: 1.2.0\n    values:\n      replicaCount: 0\n`, error: /chart schema \(.*\): its values do not pass values.schema.json: .*replicaCount/ },
    {
      what: 'an override whose values fail the schema',
      entry: () => `  - name: over\n    repo: ${world.repoUrl}\n    chart: web\n    version: 1.2.0\n${webValues('    ')}    overrides:\n      - values: {replicas: "0"}\n`,
      error: /chart over \(.*\) with override 1 \(.*:\d+\): its values do not pass values.schema.json/,
    },
  ];
  for (const c of cases) {
    it(c.what, async () => {
      const { out, run } = await build(specText(c.entry()));
      await expect(run()).rejects.toThrow(c.error);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('helm missing is an error only for a spec with charts', async () => {
    const none = new Tools({ path: join(world.dir, 'no-tools-here') });
    const chart = await build(specText(`  - name: web\n    repo: ${world.repoUrl}\n    chart: web\n    version: 1.2.0\n`));
    await expect(buildBundle({ spec: parseSpec(await readFile(`${chart.out.slice(0, -'.airlock'.length)}.yaml`, 'utf8'), 'airlock.yaml'), keys: trust.release, out: chart.out, tools: none })).rejects.toThrow(
      /chart web \(airlock.yaml:6\) needs helm, which is not on PATH: install helm \(v3.8 or later\) or give its path with --helm/,
    );
    expect(existsSync(chart.out)).toBe(false);
    await mkdir(join(world.dir, 'plain'), { recursive: true });
    await writeFile(join(world.dir, 'plain', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n');
    const text = 'apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: plain\nmanifests:\n  - ./plain\n';
    const out = join(world.dir, 'plain.airlock');
    await buildBundle({ spec: parseSpec(text, join(world.dir, 'plain.yaml')), keys: trust.release, out, tools: none });
    expect(existsSync(out)).toBe(true);
  });

  it('an archive whose digest differs from the index', async () => {
    const bad = await mkdtemp(join(world.dir, 'badrepo-'));
    await cp(world.repoDir, bad, { recursive: true });
    const archive = await readFile(join(bad, 'web-1.3.0.tgz'));
    const real = createHash('sha256').update(archive).digest('hex');
    // The repository now serves other bytes than its index names (a changed or altered download).
    await writeFile(join(bad, 'web-1.3.0.tgz'), await readFile(join(bad, 'web-1.2.0.tgz')));
    const server = await serveDir(bad);
    try {
      const { out, run } = await build(specText(`  - name: web\n    repo: ${server.url}\n    chart: web\n    version: 1.3.0\n`));
      await expect(run()).rejects.toThrow(new RegExp(`chart web \\(.*\\): the archive ${server.url}web-1.3.0.tgz has digest sha256:[a-f0-9]{64}, but .*index.yaml says sha256:${real}`));
      expect(existsSync(out)).toBe(false);
    } finally {
      await server.close();
    }
  });
});

describe('Kustomize overlays at build time', () => {
  it('builds the manifests path and each override\'s overlay, carrying the images they name', async () => {
    const repo = await mkdtemp(join(world.dir, 'kustomize-'));
    await gitInit(repo);
    const deployment = `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n        - name: web\n          image: ${world.registry.host}/team/web:1.0\n`;
    await gitCommit(repo, {
      'base/kustomization.yaml': 'resources:\n  - web.yaml\n',
      'base/web.yaml': deployment,
      'overlays/prod/kustomization.yaml': 'resources:\n  - ../../base\n',
      // The small overlay moves the image to 2.0 with kustomize's own images transformer.
      'overlays/small/kustomization.yaml': `resources:\n  - ../../base\nimages:\n  - name: ${world.registry.host}/team/web\n    newTag: "2.0"\n`,
      'overlays/bad/kustomization.yaml': 'resources:\n  - ../../../outside\n',
    }, 'overlays');
    const git = (overlay: string) => `git:\n  - name: platform\n    url: ./${repo.slice(world.dir.length + 1)}\n    ref: main\n    manifests: overlays/prod\n    overrides:\n      - clusterSelector: {matchLabels: {tier: small}}\n        overlay: ${overlay}\n`;
    const ok = await build(`apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: k\n${git('overlays/small')}`);
    const result = await ok.run();
    expect(result.images.map((i) => i.name).sort()).toEqual([`${world.registry.host}/team/web:1.0`, `${world.registry.host}/team/web:2.0`]);
    const bad = await build(`apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: k\n${git('overlays/bad')}`);
    await expect(bad.run()).rejects.toThrow('git platform (overlays/bad): overlays/bad/kustomization.yaml refers to ../../../outside, which is outside its repository');
    expect(existsSync(bad.out)).toBe(false);
  });
});
