import { describe, expect, it } from 'vitest';
import { imagesOf } from '../../src/manifests/images.js';
import { parseManifests } from '../../src/manifests/documents.js';

const pod = { containers: [{ name: 'a', image: 'app:1' }], initContainers: [{ name: 'i', image: 'init:1' }], ephemeralContainers: [{ name: 'e', image: 'debug:1' }] };

describe('imagesOf', () => {
  it.each([
    ['Pod', { kind: 'Pod', spec: pod }],
    ['Deployment', { kind: 'Deployment', spec: { template: { spec: pod } } }],
    ['StatefulSet', { kind: 'StatefulSet', spec: { template: { spec: pod } } }],
    ['DaemonSet', { kind: 'DaemonSet', spec: { template: { spec: pod } } }],
    ['ReplicaSet', { kind: 'ReplicaSet', spec: { template: { spec: pod } } }],
    ['Job', { kind: 'Job', spec: { template: { spec: pod } } }],
    ['CronJob', { kind: 'CronJob', spec: { jobTemplate: { spec: { template: { spec: pod } } } } }],
  ])('finds containers, init and ephemeral containers in a %s', (_kind, object) => {
    expect(imagesOf(object)).toEqual(['init:1', 'app:1', 'debug:1']);
  });

  it('ignores objects without Pod templates and containers without images', () => {
    expect(imagesOf({ kind: 'ConfigMap', data: { image: 'x' } })).toEqual([]);
    expect(imagesOf({ kind: 'Service', spec: { template: { spec: pod } } })).toEqual([]);
    expect(imagesOf({ kind: 'Pod', spec: { containers: [{ name: 'x' }] } })).toEqual([]);
  });

  it('lists an image used twice once', () => {
    expect(imagesOf({ kind: 'Pod', spec: { containers: [{ image: 'a:1' }, { image: 'a:1' }] } })).toEqual(['a:1']);
  });
});

describe('parseManifests', () => {
  it('reads multi-document YAML with line numbers and unrolls Lists', () => {
    const docs = parseManifests('kind: A\n---\n# c\nkind: B\n---\nkind: List\nitems:\n  - kind: C\n  - kind: D\n', 'f.yaml');
    expect(docs.map((d) => [d.object.kind, d.line])).toEqual([['A', 1], ['B', 4], ['C', 6], ['D', 6]]);
  });

  it('names the file and line of invalid YAML', () => {
    expect(() => parseManifests('kind: A\n---\nkind: B\nkind: C\n', 'bad.yaml')).toThrow(/^bad\.yaml:4: invalid YAML: Map keys must be unique/);
  });

  it('rejects a document that is not a mapping', () => {
    expect(() => parseManifests('- a\n- b\n', 'list.yaml')).toThrow('list.yaml:1: a manifest document must be a mapping');
  });
});
