import { describe, expect, it } from 'vitest';
import { renderCluster } from '../../src/render/render.js';
import { matchesSelector, selectorProblems } from '../../src/render/selector.js';
import { substituteText } from '../../src/render/substitute.js';
import { applyPatch } from '../../src/render/json-patch.js';
import type { RenderSource } from '../../src/render/types.js';

const site = { name: 'store-0042', labels: { region: 'eu', tier: 'small' }, values: { storeNumber: '0042' } };
const pos = { name: 'pos', labels: { role: 'pos' }, values: {} };
const big = { name: 'big', labels: { tier: 'large' }, values: { gateway: '10.0.0.1' } };

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.25
          env:
            - name: STORE
              value: "\${storeNumber}"
`;

function source(extra: Partial<RenderSource> = {}, text = deployment): RenderSource {
  return { kind: 'manifests', name: 'app', files: [{ path: 'web.yaml', text }], ...extra };
}

describe('selectors', () => {
  it('match labels and every operator as kubectl does', () => {
    const labels = { region: 'eu', tier: 'large' };
    expect(matchesSelector({ matchLabels: { region: 'eu' } }, labels)).toBe(true);
    expect(matchesSelector({ matchLabels: { region: 'us' } }, labels)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['large', 'xl'] }] }, labels)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['large'] }] }, labels)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'region', operator: 'Exists' }] }, labels)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'region', operator: 'DoesNotExist' }] }, labels)).toBe(false);
    expect(matchesSelector(undefined, labels)).toBe(true);
  });

  it('reports malformed selectors and unknown operators', () => {
    expect(selectorProblems({ matchExpressions: [{ key: 'tier', operator: 'Like', values: ['x'] }] }, 's')[0]).toMatch(/operator "Like" does not exist/);
    expect(selectorProblems({ matchExpressions: [{ key: 'tier', operator: 'In' }] }, 's')[0]).toMatch(/needs a non-empty list/);
    expect(selectorProblems({ matchExpressions: [{ key: 'tier', operator: 'Exists', values: ['a'] }] }, 's')[0]).toMatch(/takes no values/);
    expect(selectorProblems({ matchLabel: { a: 'b' } }, 's')[0]).toMatch(/unknown field "matchLabel"/);
    expect(selectorProblems({ matchLabels: { 'bad key!': 'x' } }, 's')[0]).toMatch(/label key "bad key!"/);
    expect(selectorProblems('tier=large', 's')[0]).toMatch(/must be a mapping/);
  });
});

describe('substitution', () => {
  const values = new Map([['a', { value: 'A', from: 'spec' }]]);
  it('replaces ${x}, uses ${x:=d} defaults and keeps $${x} literal', () => {
    const r = substituteText('x: ${a} ${b:=dflt} $${a}', values);
    expect(r.text).toBe('x: A dflt ${a}');
    expect(r.problems).toEqual([]);
    expect(r.used.get('b')).toEqual({ value: 'dflt', from: 'default' });
  });
  it('leaves references in comments as written (they are not part of the object)', () => {
    const r = substituteText('# uses ${nothing}\na: "x # ${a}" # and ${nothing}\nb: ${a}\n', values);
    expect(r.problems).toEqual([]);
    expect(r.text).toBe('# uses ${nothing}\na: "x # A" # and ${nothing}\nb: A\n');
  });
  it('is strict about a variable without value or default, naming its line', () => {
    const r = substituteText('a: 1\nb: ${missing}\n', values);
    expect(r.problems).toEqual([expect.objectContaining({ line: 2, variable: 'missing' })]);
  });
});

describe('json patch', () => {
  it('applies add, replace, remove, and names an absent path', () => {
    const doc = { spec: { replicas: 1, list: [1, 2] } };
    expect(applyPatch(doc, { op: 'replace', path: '/spec/replicas', value: 3 })).toEqual({ result: { spec: { replicas: 3, list: [1, 2] } } });
    expect(applyPatch(doc, { op: 'add', path: '/spec/list/-', value: 3 })).toEqual({ result: { spec: { replicas: 1, list: [1, 2, 3] } } });
    expect(applyPatch(doc, { op: 'remove', path: '/spec/list/0' })).toEqual({ result: { spec: { replicas: 1, list: [2] } } });
    expect(applyPatch(doc, { op: 'replace', path: '/spec/nothing', value: 1 })).toEqual({ problem: expect.stringMatching(/absent/) });
    expect(applyPatch(doc, { op: 'add', path: '/status/x', value: 1 })).toEqual({ problem: expect.stringMatching(/absent \(no "\/status"\)/) });
    expect(doc.spec.replicas).toBe(1);
  });
});

describe('renderCluster', () => {
  it('places a source only where its selector matches (cluster labels merged onto the site labels)', () => {
    const s = source({ placement: { clusterSelector: { matchLabels: { tier: 'large' } } } });
    expect(renderCluster([s], site, pos).documents).toHaveLength(0);
    expect(renderCluster([s], site, pos).account.sources[0]?.placed).toBe(false);
    const r = renderCluster([s], site, big);
    expect(r.documents).toHaveLength(1);
    expect(r.account.labels).toEqual({ region: 'eu', tier: 'large' });
  });

  it('applies every matching override in order; precedence spec < overrides < site < cluster', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: "${a}"\n  b: "${b}"\n  c: "${c}"\n  d: "${d}"\n';
    const s = source({
      values: { a: 'spec', b: 'spec', c: 'spec', d: 'spec' },
      overrides: [
        { origin: 'airlock.yaml:10', clusterSelector: { matchLabels: { region: 'eu' } }, values: { a: 'o1', b: 'o1', c: 'o1' } },
        { origin: 'airlock.yaml:20', clusterSelector: { matchLabels: { region: 'us' } }, values: { a: 'nope' } },
        { origin: 'airlock.yaml:30', values: { b: 'o3', c: 'o3' } },
      ],
    }, text);
    const r = renderCluster([s], { ...site, values: { c: 'site' } }, { name: 'pos', labels: {}, values: { d: 'cluster' } });
    expect(r.errors).toEqual([]);
    expect(r.documents[0]?.object.data).toEqual({ a: 'o1', b: 'o3', c: 'site', d: 'cluster' });
    expect(r.account.sources[0]?.overrides.map((o) => o.index)).toEqual([1, 3]);
    expect(r.account.sources[0]?.values).toContainEqual({ name: 'b', value: 'o3', from: 'override 3 (airlock.yaml:30)' });
    expect(r.account.sources[0]?.values).toContainEqual({ name: 'd', value: 'cluster', from: 'cluster pos' });
  });

  it('patches replicas on tier=large only', () => {
    const s = source({ overrides: [{ clusterSelector: { matchLabels: { tier: 'large' } }, patches: [{ target: { kind: 'Deployment', name: 'web', namespace: 'shop' }, op: 'replace', path: '/spec/replicas', value: 5 }] }] });
    expect((renderCluster([s], site, big).documents[0]?.object.spec as { replicas: number }).replicas).toBe(5);
    expect((renderCluster([s], site, pos).documents[0]?.object.spec as { replicas: number }).replicas).toBe(1);
  });

  it('fails naming file, line, object and variable when a value is missing, and applies nothing', () => {
    const r = renderCluster([source({}, `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\n${deployment}`)], { ...site, values: {} }, pos);
    expect(r.ok).toBe(false);
    expect(r.documents).toEqual([]);
    expect(r.errors).toEqual([expect.stringMatching(/^app\/web\.yaml:19: Deployment shop\/web: variable "storeNumber" has no value/)]);
  });

  it('leaves an object annotated airlock.dev/substitute: disabled as written', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations: {airlock.dev/substitute: disabled}\ndata: {x: "${nothing}"}\n';
    const r = renderCluster([source({}, text)], site, pos);
    expect(r.errors).toEqual([]);
    expect(r.documents[0]?.object.data).toEqual({ x: '${nothing}' });
  });

  it('names the override and the object when a patch path is absent', () => {
    const s = source({ overrides: [{ origin: 'airlock.yaml:7', patches: [{ target: { kind: 'Deployment', name: 'web' }, op: 'replace', path: '/spec/paused', value: true }] }] });
    const r = renderCluster([s], site, pos);
    expect(r.ok).toBe(false);
    expect(r.errors[0]).toMatch(/^app\/web\.yaml:1: Deployment shop\/web: override 1 \(airlock\.yaml:7\): patch replace \/spec\/paused: path "\/spec\/paused" is absent/);
  });

  it('rewrites matching images and warns about an image override that matches nothing', () => {
    const s = source({ overrides: [{ images: [{ match: 'nginx', registry: 'mirror.local', tag: '1.27' }, { match: 'redis', tag: '7' }] }] });
    const r = renderCluster([s], site, pos);
    expect(r.ok).toBe(true);
    const spec = r.documents[0]?.object.spec as { template: { spec: { containers: { image: string }[] } } };
    expect(spec.template.spec.containers[0]?.image).toBe('mirror.local/library/nginx:1.27');
    expect(r.account.warnings).toEqual([expect.stringMatching(/image override for redis matched no image/)]);
  });

  it('refuses an invalid site label', () => {
    const r = renderCluster([source()], { ...site, labels: { 'bad label': 'x' } }, pos);
    expect(r.ok).toBe(false);
    expect(r.errors[0]).toMatch(/label key "bad label"/);
  });

  it('does not let a value inject YAML structure', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: ${x}\n  b: "${x}"\n';
    for (const x of ['v\nevil: yes', 'v\n  evil: yes', '{evil: yes}', '[1, 2]', 'v", evil: "x']) {
      const r = renderCluster([source({}, text)], { ...site, values: { x } }, pos);
      expect(r.ok, JSON.stringify(x)).toBe(false);
      expect(r.errors[0]).toMatch(/^app\/web\.yaml:5: ConfigMap c: the value of \$\{x\} (would change the structure|makes the YAML invalid)/);
    }
    const two = renderCluster([source({}, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: ${ok}\n  b: ${x}\n')], { ...site, values: { ok: 'fine', x: 'v\nevil: yes' } }, pos);
    expect(two.errors).toEqual(['app/web.yaml:6: ConfigMap c: the value of ${x} would change the structure of the object (add keys, items or nesting); a value is substituted as scalar text only']);
    const ok = renderCluster([source({}, text)], { ...site, values: { x: 'plain: value # with colon' } }, pos);
    expect(ok.errors).toEqual([expect.stringMatching(/structure|invalid/)]);
    const fine = renderCluster([source({}, text)], { ...site, values: { x: 'v-1.2' } }, pos);
    expect(fine.documents[0]?.object.data).toEqual({ a: 'v-1.2', b: 'v-1.2' });
  });

  it('reports a malformed selector carried by the bundle instead of placing the source', () => {
    const s = source({ placement: { clusterSelector: { matchExpressions: [{ key: 'tier', operator: 'Near' as 'In', values: ['x'] }] } } });
    const r = renderCluster([s], site, pos);
    expect(r.ok).toBe(false);
    expect(r.errors[0]).toMatch(/manifests app: placement\.clusterSelector\.matchExpressions\[0\]: operator "Near" does not exist/);
  });
});

describe('image discovery at build time', async () => {
  const { discoveryDocuments } = await import('../../src/render/discover.js');
  const { imagesOfAll } = await import('../../src/manifests/images.js');
  it('finds images with the spec values and each override, and leaves out those only a site can resolve', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - {name: a, image: "ghcr.io/acme/web:${tag}"}\n    - {name: b, image: "${siteRegistry}/tool:1"}\n    - {name: c, image: redis:6}\n';
    const docs = discoveryDocuments({ kind: 'manifests', name: 'app', files: [{ path: 'p.yaml', text }], values: { tag: '1.0' }, overrides: [{ values: { tag: '1.1' } }, { images: [{ match: 'redis', tag: '7' }] }] });
    expect(imagesOfAll(docs.map((d) => d.object)).sort()).toEqual(['docker.io/library/redis:7', 'ghcr.io/acme/web:1.0', 'ghcr.io/acme/web:1.1', 'redis:6']);
    expect(docs[0]?.file).toBe('app/p.yaml');
  });
});
