/** The spec's `charts:` entries (errors name file:line) and the semver ranges their `version` may hold. */
import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../bundler/spec.js';
import { maxSatisfying, parseRange } from '../../src/charts/semver.js';

const head = 'apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: s\ncharts:\n';

describe('semver ranges', () => {
  const versions = ['0.9.0', '1.0.0', '1.2.0', '1.2.5', '1.3.0', '1.10.1', '2.0.0-rc.1', '2.0.0', '2.1.0'];
  const cases: [string, string | undefined][] = [
    ['1.2.0', '1.2.0'],
    ['^1.2', '1.10.1'],
    ['^1.2.3', '1.10.1'],
    ['~1.2.0', '1.2.5'],
    ['~1', '1.10.1'],
    ['1.2.x', '1.2.5'],
    ['1.x', '1.10.1'],
    ['*', '2.1.0'],
    ['>=1.0.0 <1.3.0', '1.2.5'],
    ['>=1.0, <1.3', '1.2.5'],
    ['1.0 - 1.2', '1.2.5'],
    ['^0.9', '0.9.0'],
    ['<1', '0.9.0'],
    ['>2.1.0', undefined],
    ['^3', undefined],
    ['^1 || ^2', '2.1.0'],
    ['2.0.0-rc.1', '2.0.0-rc.1'],
    ['>=2.0.0-rc.0 <2.0.0', '2.0.0-rc.1'],
    ['>=1.99.0 <2.0.0', undefined], // a pre-release of 2.0.0 is not in a range that names none
  ];
  for (const [range, want] of cases) it(`${range} → ${want ?? 'nothing'}`, () => expect(maxSatisfying(versions, range)).toBe(want));
  it('refuses what is not a range', () => {
    for (const bad of ['latest', '1.2.3.4', '>=', '^a']) expect(parseRange(bad)).toBeUndefined();
  });
});

describe('charts in the spec', () => {
  it('reads every field and keeps the values text as written', () => {
    const spec = parseSpec(
      `${head}  - name: web\n    repo: https://charts.example.com/stable\n    chart: web\n    version: ^1.2\n    namespace: shop\n    releaseName: front\n    values:\n      replicaCount: \${replicas:=1}\n      image:\n        tag: "\${tag}"\n    valuesFiles: [web-values.yaml]\n    placement:\n      clusterSelector:\n        matchLabels: {tier: large}\n    overrides:\n      - clusterSelector:\n          matchLabels: {region: eu}\n        values: {replicas: "3"}\n`,
      'airlock.yaml',
    );
    expect(spec.charts).toEqual([
      {
        name: 'web',
        repo: 'https://charts.example.com/stable',
        chart: 'web',
        version: '^1.2',
        namespace: 'shop',
        releaseName: 'front',
        values: 'replicaCount: ${replicas:=1}\nimage:\n  tag: "${tag}"\n',
        valuesFiles: ['web-values.yaml'],
        placement: { clusterSelector: { matchLabels: { tier: 'large' } } },
        overrides: [{ origin: 'airlock.yaml:21', clusterSelector: { matchLabels: { region: 'eu' } }, values: { replicas: '3' } }],
        line: 6,
      },
    ]);
  });

  const bad: [string, string, RegExp][] = [
    ['an unknown field', '  - name: web\n    chart: ./web\n    colour: blue\n', /airlock.yaml:8: unknown field "colour" in a charts entry/],
    ['an OCI chart without version', '  - name: web\n    chart: oci://r.example.com/charts/web\n', /airlock.yaml:6: chart web: version is required/],
    ['a version in the OCI reference', '  - name: web\n    chart: oci://r.example.com/charts/web:1.0\n    version: 1.0.0\n', /airlock.yaml:7: chart web: give the version in version:/],
    ['a version that is no range', '  - name: web\n    chart: oci://r.example.com/charts/web\n    version: newest\n', /airlock.yaml:8: chart web: version "newest" is neither a version nor a range/],
    ['a repo that is no URL', '  - name: web\n    repo: charts.example.com\n    chart: web\n    version: 1.0.0\n', /airlock.yaml:7: chart web: repo "charts.example.com" must be a chart repository URL/],
    ['a path with repo', '  - name: web\n    repo: https://c.example.com\n    chart: ./web\n    version: 1.0.0\n', /airlock.yaml:8: chart web: with repo, chart is the chart's name/],
    ['a bad namespace', '  - name: web\n    chart: ./web\n    namespace: Shop\n', /airlock.yaml:8: chart web: namespace "Shop"/],
    ['values that are no mapping', '  - name: web\n    chart: ./web\n    values: [1]\n', /airlock.yaml:8: chart web: values must be a mapping/],
    ['a name used twice', '  - name: web\n    chart: ./web\n  - name: web\n    chart: ./other\n', /airlock.yaml:8: chart name "web" is used twice/],
    ['a bad override', '  - name: web\n    chart: ./web\n    overrides:\n      - values: {a-b: 1}\n', /airlock.yaml:9: chart web: overrides\[0\].values: value name "a-b"/],
  ];
  for (const [what, entry, error] of bad) it(`refuses ${what}`, () => expect(() => parseSpec(`${head}${entry}`, 'airlock.yaml')).toThrow(error));

  it('takes an overlay per override of a git entry, and refuses one leaving the repository', () => {
    const git = (overlay: string) => `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: s\ngit:\n  - name: p\n    url: ./p\n    manifests: overlays/prod\n    overrides:\n      - clusterSelector: {matchLabels: {tier: small}}\n        overlay: ${overlay}\n`;
    expect(parseSpec(git('overlays/small'), 'airlock.yaml').git[0]?.overlays).toEqual([{ override: 0, path: 'overlays/small' }]);
    expect(() => parseSpec(git('../elsewhere'), 'airlock.yaml')).toThrow(/airlock.yaml:10: git p: overrides\[0\].overlay must be a directory inside the repository/);
  });

  it('a spec with only charts is not empty', () => {
    expect(parseSpec(`${head}  - name: web\n    chart: ./web\n`, 'airlock.yaml').charts).toHaveLength(1);
  });
});
