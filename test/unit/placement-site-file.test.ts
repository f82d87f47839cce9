/** The site file: a good one parses with labels, values and clusters; every kind of bad one fails naming file:line. */
import { describe, expect, it } from 'vitest';
import { labelKeyProblem, labelValueProblem } from '../../src/site/labels.js';
import { clusterLabels, parseSiteFile } from '../../src/site/site-file.js';

const GOOD = `apiVersion: airlock.dev/v1
kind: Site
metadata:
  name: store-0042
  labels:
    region: eu
    example.com/tier: large
values:
  storeNumber: "0042"
clusters:
  - name: pos
    kubeconfig: pos.kubeconfig
    labels: {role: pos, tier: small}
    values: {gateway: 10.0.0.1}
  - name: cameras
    kubeconfig: /etc/airlock/cameras.kubeconfig
    reconcile: none
  - name: local
    inCluster: true
`;

function problem(text: string): string {
  try {
    parseSiteFile(text, '/etc/airlock/site.yaml');
  } catch (err) {
    expect((err as { code?: string }).code).toBe('SITE_INVALID');
    return (err as Error).message;
  }
  throw new Error('the site file was accepted');
}

describe('site file', () => {
  it('parses a site with labels, values and clusters; relative kubeconfigs are taken from the file\'s directory', () => {
    const site = parseSiteFile(GOOD, '/etc/airlock/site.yaml');
    expect(site.name).toBe('store-0042');
    expect(site.labels).toEqual({ region: 'eu', 'example.com/tier': 'large' });
    expect(site.values).toEqual({ storeNumber: '0042' });
    expect(site.clusters.map((c) => [c.name, c.kubeconfig ?? 'in-cluster', c.reconcile])).toEqual([
      ['pos', '/etc/airlock/pos.kubeconfig', 'airlock'],
      ['cameras', '/etc/airlock/cameras.kubeconfig', 'none'],
      ['local', 'in-cluster', 'airlock'],
    ]);
    expect(site.clusters[0]?.values).toEqual({ gateway: '10.0.0.1' });
    expect(site.clusters[0]?.origin).toBe('/etc/airlock/site.yaml:11');
    expect(clusterLabels(site, site.clusters[0] as never)).toEqual({ region: 'eu', 'example.com/tier': 'large', role: 'pos', tier: 'small' });
  });

  it('refuses an unknown field, naming file and line', () => {
    expect(problem(GOOD.replace('    reconcile: none', '    reconcile: none\n    kubeConfig: x'))).toContain('/etc/airlock/site.yaml:18: clusters[1]: unknown field "kubeConfig"');
    expect(problem(`${GOOD}extra: 1\n`)).toContain('site.yaml:20: the site file: unknown field "extra"');
  });

  it('refuses bad label syntax in keys and values', () => {
    expect(problem(GOOD.replace('region: eu', 'region: "eu west"'))).toMatch(/site\.yaml:6: metadata\.labels: label value "eu west"/);
    expect(problem(GOOD.replace('role: pos', 'Bad_Prefix.com/role: pos'))).toMatch(/site\.yaml:13: clusters\[0\]\.labels: label key "Bad_Prefix\.com\/role"/);
    expect(labelKeyProblem('a'.repeat(64))).toBeDefined();
    expect(labelValueProblem('-x')).toBeDefined();
    expect(labelValueProblem('')).toBeUndefined();
    expect(labelKeyProblem('airlock.dev/owner')).toBeUndefined();
  });

  it('refuses a cluster listed twice, naming both lines', () => {
    expect(problem(GOOD.replace('name: cameras', 'name: pos'))).toContain('site.yaml:15: cluster "pos" is listed twice (also at /etc/airlock/site.yaml:11)');
  });

  it('refuses a cluster without kubeconfig or inCluster, and one with both', () => {
    expect(problem(GOOD.replace('    kubeconfig: pos.kubeconfig\n', ''))).toContain('site.yaml:11: clusters[0] (pos): a kubeconfig path (or inCluster: true) is required');
    expect(problem(GOOD.replace('    inCluster: true', '    inCluster: true\n    kubeconfig: k'))).toContain('give either kubeconfig or inCluster: true, not both');
  });

  it('refuses the wrong apiVersion or kind, a bad name, a bad reconcile mode, no clusters, invalid YAML', () => {
    expect(problem(GOOD.replace('airlock.dev/v1', 'airlock.dev/v2'))).toContain('site.yaml:1: apiVersion must be airlock.dev/v1');
    expect(problem(GOOD.replace('kind: Site', 'kind: Fleet'))).toContain('site.yaml:2: kind must be Site');
    expect(problem(GOOD.replace('store-0042', 'Store_42'))).toContain('site.yaml:4: metadata.name: name "Store_42" must be a DNS label');
    expect(problem(GOOD.replace('reconcile: none', 'reconcile: argo'))).toContain('site.yaml:17: clusters[1].reconcile must be airlock or none');
    expect(problem(GOOD.slice(0, GOOD.indexOf('clusters:')))).toContain('clusters must list at least one cluster');
    expect(problem('apiVersion: [\n')).toMatch(/site\.yaml:\d+: invalid YAML/);
    expect(problem(GOOD.replace('  name: store-0042\n', '  name: store-0042\n  name: again\n'))).toContain('invalid YAML');
  });

  it('reports every problem at once', () => {
    const message = problem(GOOD.replace('region: eu', 'region: "eu west"').replace('name: cameras', 'name: pos'));
    expect(message).toContain('label value "eu west"');
    expect(message).toContain('listed twice');
  });
});
