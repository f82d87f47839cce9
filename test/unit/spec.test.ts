import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../bundler/spec.js';

const head = 'apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: edge\n';

describe('bundle spec', () => {
  it('reads every field of docs/spec.md with defaults', () => {
    const spec = parseSpec(
      `${head}expires: 90d
images:
  - registry.example.com/team/app:1.2.3
  - ref: docker.io/library/nginx:1.25
    platforms: [linux/amd64, linux/arm64]
  - oci:./local-layout:app:1.0
git:
  - name: platform
    url: https://git.example.com/platform.git
    ref: main
    manifests: clusters/store
manifests:
  - ./k8s
registries:
  "127.0.0.1:5000": { plainHttp: true }
`,
      '/work/spec/airlock.yaml',
    );
    expect(spec).toMatchObject({
      name: 'edge',
      channel: 'stable',
      expires: '90d',
      discoverImages: true,
      baseDir: '/work/spec',
      images: [{ ref: 'registry.example.com/team/app:1.2.3', line: 7 }, { ref: 'docker.io/library/nginx:1.25', platforms: ['linux/amd64', 'linux/arm64'], line: 8 }, { ref: 'oci:./local-layout:app:1.0' }],
      git: [{ name: 'platform', url: 'https://git.example.com/platform.git', ref: 'main', manifests: 'clusters/store' }],
      manifests: [{ path: './k8s' }],
      registries: { '127.0.0.1:5000': { plainHttp: true } },
    });
  });

  it.each([
    ['an unknown top-level field', `${head}image:\n  - a\n`, 'airlock.yaml:5: unknown field "image" in the spec'],
    ['an unknown field in metadata', `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: x\n  labels: {}\n`, 'airlock.yaml:5: unknown field "labels" in metadata'],
    ['a missing name', 'apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  channel: stable\nmanifests: [a]\n', 'airlock.yaml:4: metadata.name is required'],
    ['missing metadata', 'apiVersion: airlock.dev/v1\nkind: Bundle\nmanifests: [a]\n', 'airlock.yaml:1: metadata is required'],
    ['a malformed image reference', `${head}images:\n  - ok/app:1\n  - Bad/App:1\n`, 'airlock.yaml:7: invalid image reference "Bad/App:1"'],
    ['a malformed image ref in a mapping', `${head}images:\n  - ref: "app@sha256:12"\n`, 'airlock.yaml:6: invalid image reference'],
    ['a bad platform', `${head}images:\n  - ref: app:1\n    platforms: [amd64]\n`, 'airlock.yaml:7: platform "amd64"'],
    ['a bad expires', `${head}expires: soon\nmanifests: [a]\n`, 'airlock.yaml:5: expires "soon" is not a duration'],
    ['a wrong apiVersion', 'apiVersion: v2\nkind: Bundle\nmetadata:\n  name: x\n', 'airlock.yaml:1: apiVersion must be airlock.dev/v1'],
    ['a git entry without url', `${head}git:\n  - name: p\n    ref: main\n`, 'airlock.yaml:6: git[].url is required'],
    ['duplicate git names', `${head}git:\n  - { name: p, url: a }\n  - { name: p, url: b }\n`, 'airlock.yaml:7: git name "p" is used twice'],
    ['an empty bundle', head, 'the bundle is empty'],
    ['invalid YAML', `${head}images: [a\n`, 'airlock.yaml:6: invalid YAML'],
    ['an oci: source without a name', `${head}images:\n  - oci:./layout\n`, 'airlock.yaml:6: "oci:./layout" must be oci:PATH:NAME'],
  ])('reports %s with file and line', (_what, text, message) => {
    expect(() => parseSpec(text, 'airlock.yaml')).toThrow(message);
  });
});
