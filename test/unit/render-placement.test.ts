/**
 * A placement's render as the appliance and `airlock render` run it (the expander hook, values in patch values,
 * the site's marks), the tree of files of a rendered branch, the rendered repository written with real git and
 * cloned back, and a placement whose render fails: Degraded with the errors, nothing applied, the objects in
 * force kept, while a placement on another cluster syncs.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RenderedRepo } from '../../appliance/git/rendered.js';
import { PlacementLoop, type PlacementDeps, RenderFailure } from '../../appliance/reconcile/placement.js';
import { AirlockError } from '../../src/errors.js';
import { desiredObjects } from '../../src/kube/desired.js';
import { parseManifests } from '../../src/manifests/documents.js';
import type { SourceExpander } from '../../src/render/expand.js';
import { objectFiles, objectPath } from '../../src/render/files.js';
import { renderPlacement } from '../../src/render/placement.js';
import { renderCluster } from '../../src/render/render.js';
import type { RenderSource } from '../../src/render/types.js';
import { FakeCluster } from '../helpers/fake-cluster.js';

const run = promisify(execFile);
const site = { name: 'store-1', labels: { region: 'eu' }, values: { store: '0042' } };
const large = { name: 'east', labels: { tier: 'large' }, values: {} };
const small = { name: 'west', labels: { tier: 'small' }, values: {} };
const DEPLOY = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers: [{name: web, image: ghcr.io/acme/web:1.0}]\n';
const desired = { channel: 'stable', rootDigest: 'sha256:root', rules: { registry: 'site.local:5000', held: new Map([['ghcr.io/acme/web:1.0', `sha256:${'b'.repeat(64)}`]]) }, placement: { site: 'store-1', cluster: 'east' } };

function source(over: Partial<RenderSource> = {}, text = DEPLOY): RenderSource {
  return { kind: 'manifests', name: 'app', files: [{ path: 'web.yaml', text }], ...over };
}

const patch = (value: unknown) => ({ target: { kind: 'Deployment', name: 'web', namespace: 'shop' }, op: 'replace' as const, path: '/spec/replicas', value });

describe('values in override patch values', () => {
  it('substitutes a whole reference as its YAML scalar and a reference inside text as text', () => {
    const s = source({
      values: { replicas: '3' },
      overrides: [
        {
          origin: 'airlock.yaml:9',
          patches: [patch('${replicas}'), { target: { kind: 'Deployment', name: 'web', namespace: 'shop' }, op: 'add', path: '/metadata/labels', value: { store: 'store-${store}', literal: '$${store}' } }],
        },
      ],
    });
    const r = renderCluster([s], site, large);
    expect(r.errors).toEqual([]);
    const o = r.documents[0]?.object;
    expect((o?.spec as { replicas: unknown }).replicas).toBe(3);
    expect(o?.metadata?.labels).toEqual({ store: 'store-0042', literal: '${store}' });
    expect(r.account.sources[0]?.values).toEqual([
      { name: 'replicas', value: '3', from: 'spec' },
      { name: 'store', value: '0042', from: 'site store-1' },
    ]);
  });

  it('fails the render naming the override and the variable when a patch value has no value', () => {
    const r = renderCluster([source({ overrides: [{ origin: 'airlock.yaml:9', patches: [patch('${size}')] }] })], site, large);
    expect(r.ok).toBe(false);
    expect(r.documents).toEqual([]);
    expect(r.errors).toEqual([expect.stringMatching(/^manifests app: override 1 \(airlock\.yaml:9\): patch replace \/spec\/replicas: variable "size" has no value/)]);
  });

  it('refuses a value that would put a mapping where a scalar reference is', () => {
    const r = renderCluster([source({ values: { n: '{evil: yes}' }, overrides: [{ patches: [patch('${n}')] }] })], site, large);
    expect(r.ok).toBe(false);
    expect(r.errors[0]).toMatch(/the value of \$\{n\} would be a mapping/);
  });
});

describe('values that could carry structure are always checked', () => {
  it('substitutes plain values and still refuses indicators, aliases and collections (an unresolved alias included, which used to throw)', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\ndata:\n  a: ${x}\n  b: "${x}"\nitems:\n  - ${x}\n';
    const ok = renderCluster([source({}, text)], { ...site, values: { x: 'registry.local/a_b@sha256=1+2' } }, large);
    expect(ok.errors).toEqual([]);
    expect(ok.documents[0]?.object.items).toEqual(['registry.local/a_b@sha256=1+2']);
    for (const x of ['-', '- evil', '*a', '@x', '?', '[]', '{}']) {
      const r = renderCluster([source({}, text)], { ...site, values: { x } }, large);
      expect(r.ok, x).toBe(false);
    }
  });
});

describe('one placement render', () => {
  it('runs the expander for the cluster before the render, then marks and points images at the site registry', async () => {
    const seen: string[] = [];
    const expander: SourceExpander = async (sources, s, c) => {
      seen.push(`${s.name}/${c.name}:${sources.length}`);
      return sources.map((x) => ({ ...x, files: [...x.files, { path: 'extra.yaml', text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: shop}\ndata: {store: "${store}"}\n' }] }));
    };
    const r = await renderPlacement([source()], site, large, { desired, expandSources: expander });
    expect(seen).toEqual(['store-1/east:1']);
    expect(r.ok).toBe(true);
    expect(r.objects.map((o) => o.key)).toEqual(['apps/Deployment/shop/web', '/ConfigMap/shop/extra']);
    const web = r.objects[0]?.object;
    expect(web?.metadata?.labels).toMatchObject({ 'airlock.dev/owner': 'stable', 'airlock.dev/site': 'store-1', 'airlock.dev/cluster': 'east' });
    expect(JSON.stringify(web)).toContain(`site.local:5000/acme/web:1.0@sha256:${'b'.repeat(64)}`);
    expect(r.objects[1]?.object.data).toEqual({ store: '0042' });
  });

  it('fails the placement with the message of an expander that throws, and returns no objects', async () => {
    const expander: SourceExpander = async () => {
      throw new AirlockError('RENDER_FAILED', 'chart web: helm template failed');
    };
    const r = await renderPlacement([source()], site, large, { desired, expandSources: expander });
    expect(r).toMatchObject({ ok: false, objects: [], errors: ['chart web: helm template failed'] });
  });

  it('places a source only on the clusters its selector matches', async () => {
    const s = source({ placement: { clusterSelector: { matchLabels: { tier: 'large' } } } });
    expect((await renderPlacement([s], site, large, { desired })).objects).toHaveLength(1);
    const other = await renderPlacement([s], site, small, { desired });
    expect(other.ok).toBe(true);
    expect(other.objects).toEqual([]);
    expect(other.account.sources[0]).toMatchObject({ placed: false, selector: 'tier=large' });
  });
});

describe('the tree of a rendered branch', () => {
  it('gives one file per object under its namespace, sorted, the same bytes whatever the key order', () => {
    const a = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { namespace: 'shop', name: 'web' }, spec: { replicas: 2 } };
    const b = { spec: { replicas: 2 }, metadata: { name: 'web', namespace: 'shop' }, kind: 'Deployment', apiVersion: 'apps/v1' };
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } };
    expect(objectPath(a)).toBe('shop/Deployment.apps_web.yaml');
    expect(objectPath(ns)).toBe('Namespace_shop.yaml');
    expect(objectFiles([a, ns])).toEqual(objectFiles([ns, b]));
    expect(objectFiles([a, ns]).map((f) => f.path)).toEqual(['Namespace_shop.yaml', 'shop/Deployment.apps_web.yaml']);
    expect(objectFiles([a])[0]?.text).toBe('apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 2\n');
    const tricky = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'x' }, data: { k: 'line1\nline2', n: '007', long: 'y'.repeat(200) } };
    expect(parse(objectFiles([tricky])[0]?.text ?? '')).toEqual(tricky);
  });
});

async function files(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name === '.git') continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[relative(dir, p)] = await readFile(p, 'utf8');
    }
  };
  await walk(dir);
  return out;
}

describe('the rendered repository', () => {
  it('commits each render as a whole tree on its CHANNEL/CLUSTER branch, which git clones as written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-rendered-'));
    const repo = new RenderedRepo(join(dir, 'rendered'));
    const bundle = (sequence: number) => ({ name: 'shop', channel: 'stable', sequence, root: `sha256:${String(sequence).repeat(64)}` });
    const first = [{ path: 'Namespace_shop.yaml', text: 'kind: Namespace\n' }, { path: 'shop/ConfigMap_a.yaml', text: 'kind: ConfigMap\n' }];
    const c1 = await repo.commit({ branch: 'stable/east', files: first, bundle: bundle(1), cluster: 'east', site: 'store-1', when: new Date('2026-01-01T00:00:00Z') });
    expect(await repo.tip('stable/east')).toEqual({ commit: c1, root: bundle(1).root });
    expect(await repo.tip('stable/west')).toBeUndefined();
    const second = [{ path: 'shop/ConfigMap_b.yaml', text: 'kind: ConfigMap\nname: b\n' }];
    const c2 = await repo.commit({ branch: 'stable/east', files: second, bundle: bundle(2), cluster: 'east', site: 'store-1', when: new Date('2026-01-02T00:00:00Z') });
    await repo.commit({ branch: 'stable/west', files: first, bundle: bundle(2), cluster: 'west', site: 'store-1', when: new Date('2026-01-02T00:00:00Z') });
    expect(c2).not.toBe(c1);

    const clone = join(dir, 'clone');
    await run('git', ['clone', '-q', '-b', 'stable/east', repo.path, clone]);
    expect(await files(clone)).toEqual({ 'shop/ConfigMap_b.yaml': 'kind: ConfigMap\nname: b\n' });
    const log = (await run('git', ['-C', clone, 'log', '--format=%an|%s|%P', 'stable/east'])).stdout.trim().split('\n');
    expect(log).toEqual([`airlock|shop sequence 2 for east|${c1}`, 'airlock|shop sequence 1 for east|']);
    const body = (await run('git', ['-C', clone, 'log', '-1', '--format=%B'])).stdout;
    expect(body).toContain(`Airlock-Root: ${bundle(2).root}`);
    expect(body).toContain('Airlock-Sequence: 2');
    expect((await repo.branches()).map((b) => b.branch)).toEqual(['stable/east', 'stable/west']);
    // A plain clone (no -b) checks out the first branch written.
    const plain = join(dir, 'plain');
    await run('git', ['clone', '-q', repo.path, plain]);
    expect(Object.keys(await files(plain))).toEqual(['shop/ConfigMap_b.yaml']);
  });
});

describe('a placement whose render fails', () => {
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const YAML = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\ndata: {v: "1"}\n';
  const deps = (load: PlacementDeps['load'], root: { value: string }): PlacementDeps => {
    const inventories = new Map<string, never[]>();
    return {
      site: 'store-1',
      rootInForce: () => root.value,
      load,
      inventory: (id) => inventories.get(id) ?? [],
      setInventory: (id, e) => void inventories.set(id, e as never[]),
      audit: () => undefined,
      log: quiet,
      now: () => new Date('2026-01-01T00:00:00Z'),
      random: () => 0.5,
      intervalMs: 60_000,
      selfHeal: false,
      forceConflicts: false,
    };
  };

  it('is Degraded with the errors, applies nothing and keeps the objects in force, while another placement syncs', async () => {
    const root = { value: 'sha256:one' };
    const good = async (channel: string, cluster: string, r: string) => desiredObjects(parseManifests(YAML, 'set/a.yaml'), { channel, rootDigest: r, rules: { registry: 'x', held: new Map() }, placement: { site: 'store-1', cluster } });
    const east = new FakeCluster('https://east');
    const west = new FakeCluster('https://west');
    const failing = new PlacementLoop('stable', { name: 'east', api: east }, deps(async (c, cl, r) => {
      if (r === 'sha256:two') throw new RenderFailure('east', ['app/web.yaml:4: ConfigMap default/a: variable "size" has no value and no default']);
      return good(c, cl, r);
    }, root));
    const other = new PlacementLoop('stable', { name: 'west', api: west }, deps(good, root));
    await failing.passNow();
    expect(failing.status()).toMatchObject({ sync: 'Synced', health: 'Healthy' });
    const appliedBefore = east.applied().length;

    root.value = 'sha256:two';
    await Promise.all([failing.passNow(), other.passNow()]);
    expect(failing.status()).toMatchObject({ health: 'Degraded', renderErrors: ['app/web.yaml:4: ConfigMap default/a: variable "size" has no value and no default'] });
    expect(failing.status().reason).toMatch(/^the render for cluster east failed, nothing of it was applied/);
    expect(failing.status().lastSync).toMatchObject({ ok: false });
    expect(east.applied().length).toBe(appliedBefore);
    expect(east.find('ConfigMap', 'a', 'default')?.metadata?.annotations?.['airlock.dev/bundle-root']).toBe('sha256:one');
    expect(other.status()).toMatchObject({ sync: 'Synced', health: 'Healthy', rootDigest: 'sha256:two' });
    expect(other.status().renderErrors).toBeUndefined();
    await Promise.all([failing.stop(), other.stop()]);
  });
});

