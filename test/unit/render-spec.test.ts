import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../bundler/spec.js';
import { intentOf } from '../../src/render/sources.js';
import { parseSiteFile } from '../../src/site/site-file.js';

const head = 'apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata: {name: shop}\n';

describe('spec: placement, overrides and values', () => {
  it('keeps plain manifests paths valid and reads object entries, git entries and values', () => {
    const spec = parseSpec(
      `${head}values: {replicas: 2, region: eu}
manifests:
  - ./common
  - path: ./app
    placement: {clusterSelector: {matchLabels: {tier: large}}}
    overrides:
      - clusterSelector: {matchExpressions: [{key: region, operator: NotIn, values: [us]}]}
        values: {replicas: "3"}
        patches: [{target: {kind: Deployment, name: web}, op: replace, path: /spec/replicas, value: 4}]
        images: [{match: nginx, registry: mirror.local}]
git:
  - {name: extras, url: ./repo, manifests: deploy, placement: {clusterSelector: {matchLabels: {role: pos}}}}
`,
      'airlock.yaml',
    );
    expect(spec.values).toEqual({ replicas: '2', region: 'eu' });
    expect(spec.manifests[0]).toEqual({ path: './common', line: 6 });
    expect(spec.manifests[1]).toMatchObject({ path: './app', line: 7, placement: { clusterSelector: { matchLabels: { tier: 'large' } } } });
    expect(spec.manifests[1]?.overrides).toEqual([
      {
        origin: 'airlock.yaml:10',
        clusterSelector: { matchExpressions: [{ key: 'region', operator: 'NotIn', values: ['us'] }] },
        values: { replicas: '3' },
        patches: [{ target: { kind: 'Deployment', name: 'web' }, op: 'replace', path: '/spec/replicas', value: 4 }],
        images: [{ match: 'nginx', registry: 'mirror.local' }],
      },
    ]);
    expect(spec.git[0]?.placement).toEqual({ clusterSelector: { matchLabels: { role: 'pos' } } });
  });

  const bad: [string, RegExp][] = [
    ['manifests:\n  - path: ./app\n    placement: {clusterSelector: {matchExpressions: [{key: tier, operator: Near, values: [a]}]}}\n', /^airlock\.yaml:6: manifests \.\/app: .*operator "Near" does not exist/],
    ['manifests:\n  - path: ./app\n    placement: {clusterSelector: {matchLabels: {tier: [a]}}}\n', /^airlock\.yaml:6: .*label "tier" must have a string value/],
    ['manifests:\n  - path: ./app\n    placement: {clusterSelector: {matchLabel: {tier: a}}}\n', /^airlock\.yaml:6: .*unknown field "matchLabel"/],
    ['manifests:\n  - path: ./app\n    overrides:\n      - values: {a: 1}\n      - patches: [{target: {kind: Deployment}, op: replace, path: /spec}]\n', /^airlock\.yaml:8: .*overrides\[1\]\.patches\[0\]\.target must be a mapping with kind and name/],
    ['manifests:\n  - path: ./app\n    overrides:\n      - patches: [{target: {kind: D, name: w}, op: merge, path: /spec}]\n', /^airlock\.yaml:7: .*op "merge" does not exist/],
    ['manifests:\n  - path: ./app\n    overrides:\n      - images: [{match: "nginx:1.25", tag: "2"}]\n', /^airlock\.yaml:7: .*must name an image without tag or digest/],
    ['manifests:\n  - path: ./app\n    overrides:\n      - images: [{match: nginx}]\n', /give registry, repository and\/or tag/],
    ['manifests:\n  - path: ./app\n    overrides:\n      - {clusterSelector: {}, valus: {}}\n', /^airlock\.yaml:7: .*unknown field "valus"/],
    ['manifests:\n  - {path: ./app, placment: {}}\n', /^airlock\.yaml:5: unknown field "placment" in a manifests entry/],
    ['values: {"bad-name": x}\nmanifests: [./app]\n', /^airlock\.yaml:4: values: value name "bad-name"/],
  ];
  for (const [body, message] of bad) {
    it(`refuses ${message.source.slice(0, 60)}`, () => {
      expect(() => parseSpec(head + body, 'airlock.yaml')).toThrow(expect.objectContaining({ code: 'SPEC_INVALID', message: expect.stringMatching(message) }));
    });
  }
});

describe('intent recorded in a bundle', () => {
  it('reads a config without intent (older bundles) as every cluster, no overrides', () => {
    expect(intentOf({ name: 'app', files: ['a.yaml'] } as never, 'manifests app')).toEqual({});
  });
  it('refuses a malformed intent instead of placing everywhere', () => {
    expect(() => intentOf({ placement: { clusterSelector: { matchExpressions: [{ key: 'a', operator: 'Gt' as 'In', values: ['1'] }] } } }, 'manifests app')).toThrow(
      expect.objectContaining({ code: 'RENDER_FAILED', message: expect.stringMatching(/operator "Gt" does not exist/) }),
    );
  });
});

describe('site file registryHost', () => {
  const site = (extra: string) => `apiVersion: airlock.dev/v1\nkind: Site\nmetadata: {name: s}\n${extra}clusters:\n  - {name: pos, kubeconfig: k}\n`;
  it('is optional and read when given', () => {
    expect(parseSiteFile(site(''), 'site.yaml').registryHost).toBeUndefined();
    expect(parseSiteFile(site('registryHost: registry.store.local:5000\n'), 'site.yaml').registryHost).toBe('registry.store.local:5000');
  });
  it('refuses a host that is not host[:port], naming the line', () => {
    expect(() => parseSiteFile(site('registryHost: "http://x/y"\n'), 'site.yaml')).toThrow(/site\.yaml:4: registryHost "http:\/\/x\/y" must be a host name/);
  });
});
