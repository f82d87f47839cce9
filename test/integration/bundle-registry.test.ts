/**
 * Bundles built from a real registry (docker-registry), real git and real YAML, then read back by skopeo, tar
 * and git as independent clients.
 */
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../helpers/exec.js';
import { cli } from '../helpers/cli.js';
import { gitCommit, gitInit } from '../helpers/git-repo.js';
import { type Desc, skopeoDigest, skopeoPush, tagLayout, writeImage, writeIndex, writeLayer } from '../helpers/images.js';
import { type TestRegistry, freePort, startRegistry } from '../helpers/registry.js';
import { splitTar } from '../helpers/tar-edit.js';

let registry: TestRegistry;
let locked: TestRegistry;
const user = { name: 'ship', password: 'at-sea-42' };
let work: string;
let commit: string;
let amd: Desc;
let arm: Desc;
let baseLayer: string;
let bundle: string;
let report: {
  images: { ref: string; digest: string; mediaType: string }[];
  git: { name: string; commit: string; ref: string; manifests?: string }[];
  manifests: { name: string; files: string[] }[];
  signers: string[];
};

const k = (name: string) => join(work, name);

async function keysAndTrust(): Promise<void> {
  expect((await cli(['keys', 'generate', '--out', k('root')])).code).toBe(0);
  expect((await cli(['keys', 'generate', '--out', k('release'), '--name', 'release team'])).code).toBe(0);
  const trust = await cli(['trust', 'init', '--root-key', k('root.pub'), '--release-key', k('release.pub'), '--sign', k('root.key'), '--out', k('root.json')]);
  expect(trust.code).toBe(0);
}

beforeAll(async () => {
  [registry, locked] = await Promise.all([startRegistry(), startRegistry({ user })]);
  work = await mkdtemp(join(tmpdir(), 'airlock-reg-'));
  const layout = k('layout');
  const base = await writeLayer(layout, 40_000);
  baseLayer = base.desc.digest;
  amd = await writeImage(layout, [base, await writeLayer(layout, 20_000)], { os: 'linux', architecture: 'amd64' });
  arm = await writeImage(layout, [base, await writeLayer(layout, 20_000)], { os: 'linux', architecture: 'arm64' });
  await tagLayout(layout, await writeIndex(layout, [amd, arm]), 'app');
  await tagLayout(layout, await writeImage(layout, [base, await writeLayer(layout, 10_000)]), 'worker');
  await tagLayout(layout, await writeImage(layout, [await writeLayer(layout, 5_000)]), 'legacy');
  await tagLayout(layout, await writeImage(layout, [await writeLayer(layout, 5_000)]), 'job');
  await skopeoPush(layout, 'app', `${registry.host}/team/app:1.0`);
  await skopeoPush(layout, 'worker', `${registry.host}/team/worker:1.0`);
  await skopeoPush(layout, 'job', `${registry.host}/team/job:1.0`);
  await skopeoPush(layout, 'legacy', `${registry.host}/team/legacy:1.0`, ['--format', 'v2s2']);

  await gitInit(k('platform'));
  await gitCommit(k('platform'), { 'README.md': '# platform\n' }, 'first');
  commit = await gitCommit(
    k('platform'),
    { 'clusters/store/worker.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: worker\nspec:\n  template:\n    spec:\n      containers:\n        - name: w\n          image: ${registry.host}/team/worker:1.0\n` },
    'worker',
  );
  await mkdir(k('k8s'));
  await writeFile(
    k('k8s/jobs.yaml'),
    `apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers:\n            - name: i\n              image: ${registry.host}/team/job:1.0\n          containers:\n            - name: c\n              image: ${registry.host}/team/app:1.0\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n`,
  );
  await writeFile(
    k('airlock.yaml'),
    `apiVersion: airlock.dev/v1
kind: Bundle
metadata:
  name: store-edge
images:
  - ref: ${registry.host}/team/app:1.0
    platforms: [linux/arm64]
  - ${registry.host}/team/legacy:1.0
git:
  - name: platform
    url: ./platform
    ref: main
    manifests: clusters/store
manifests:
  - ./k8s
`,
  );
  await keysAndTrust();
  bundle = k('store-edge.airlock');
  const created = await cli(['bundle', 'create', '-f', k('airlock.yaml'), '--key', k('release.key'), '-o', bundle, '--sequence', '7', '--json']);
  expect(created.stderr).toBe('');
  expect(created.code).toBe(0);
  const verified = await cli(['bundle', 'verify', bundle, '--trust', k('root.json'), '--json']);
  expect(verified.code, verified.stderr).toBe(0);
  report = JSON.parse(verified.stdout) as typeof report;
});

afterAll(async () => {
  await Promise.all([registry?.stop(), locked?.stop()]);
});

describe('bundle create from a registry', () => {
  it('holds the listed images, the images the manifests use, the Git snapshot and the manifest set', async () => {
    const refs = report.images.map((i) => i.ref);
    expect(refs).toEqual([
      `${registry.host}/team/app:1.0`,
      `${registry.host}/team/legacy:1.0`,
      `${registry.host}/team/job:1.0`, // discovered as an init container of a CronJob in ./k8s
      `${registry.host}/team/worker:1.0`, // discovered in the Git manifests path
    ]);
    for (const image of report.images) expect(image.digest).toBe(await skopeoDigest(image.ref));
    expect(report.images[1]?.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(report.git).toEqual([{ name: 'platform', url: './platform', ref: 'refs/heads/main', commit, manifests: 'clusters/store' }]);
    expect(report.manifests).toEqual([{ name: './k8s', files: ['jobs.yaml'] }]);
  });

  it('writes entries in format v1 order, each blob once, and only the listed platforms', async () => {
    const entries = splitTar(await readFile(bundle)).map((e) => e.name);
    expect(entries.slice(0, 3)).toEqual(['oci-layout', 'index.json', 'airlock/signature.json']);
    expect(new Set(entries).size).toBe(entries.length);
    const names = new Set(entries);
    const blob = (d: string) => `blobs/sha256/${d.slice(7)}`;
    expect(names.has(blob(arm.digest))).toBe(true);
    expect(names.has(blob(amd.digest))).toBe(false);
    expect(entries.filter((e) => e === blob(baseLayer))).toHaveLength(1);
    // metadata (small JSON) strictly before the first large blob
    const raw = splitTar(await readFile(bundle));
    const firstLarge = raw.findIndex((e, i) => i > 2 && e.body[0] !== 0x7b);
    expect(raw.slice(firstLarge).every((e) => e.body[0] !== 0x7b || e.body.length > 100_000)).toBe(true);
  });

  it('extracts to an OCI layout that skopeo copies to a registry with every digest kept', async () => {
    const dir = k('extracted');
    await mkdir(dir);
    await run('tar', ['xf', bundle, '-C', dir]);
    for (const name of ['team/worker:1.0', 'team/job:1.0']) {
      await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', `oci:${dir}:${registry.host}/${name}`, `docker://${registry.host}/copy/${name}`]);
      expect(await skopeoDigest(`${registry.host}/copy/${name}`)).toBe(await skopeoDigest(`${registry.host}/${name}`));
    }
    // Docker v2 manifests are kept byte for byte (their digest is what users pin); skopeo 1.x's oci: transport
    // does not resolve Docker-typed descriptors, so check the layout's copy by digest instead.
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Desc[] };
    const legacy = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === `${registry.host}/team/legacy:1.0`);
    expect(legacy?.digest).toBe(await skopeoDigest(`${registry.host}/team/legacy:1.0`));
    expect(await readFile(join(dir, 'blobs/sha256', legacy!.digest.slice(7)), 'utf8')).toBe(await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/team/legacy:1.0`]));
    await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--override-arch', 'arm64', '--dest-tls-verify=false', `oci:${dir}:${registry.host}/team/app:1.0`, `docker://${registry.host}/copy/app:arm`]);
    expect(await skopeoDigest(`${registry.host}/copy/app:arm`)).toBe(arm.digest);
  });

  it('carries a git bundle that plain git verifies and clones', async () => {
    const dir = k('gitcheck');
    await mkdir(dir);
    await run('tar', ['xf', bundle, '-C', dir]);
    const files = await readdir(join(dir, 'blobs', 'sha256'));
    let gitBundle = '';
    for (const f of files) {
      const head = (await readFile(join(dir, 'blobs', 'sha256', f))).subarray(0, 16).toString();
      if (head.startsWith('# v2 git bundle')) gitBundle = join(dir, 'blobs', 'sha256', f);
    }
    expect(gitBundle).not.toBe('');
    await run('git', ['init', '-q', join(dir, 'empty')]);
    const verify = await run('git', ['-C', join(dir, 'empty'), 'bundle', 'verify', gitBundle]);
    expect(verify).toContain(`${commit} refs/heads/main`);
    await run('git', ['clone', '-q', '-b', 'main', gitBundle, join(dir, 'clone')]);
    expect((await run('git', ['-C', join(dir, 'clone'), 'rev-parse', 'HEAD'])).trim()).toBe(commit);
    expect(await readFile(join(dir, 'clone', 'clusters/store/worker.yaml'), 'utf8')).toContain('team/worker:1.0');
    expect((await run('git', ['-C', join(dir, 'clone'), 'rev-list', '--count', 'HEAD'])).trim()).toBe('2');
  });

  it('inspect reports the same contents without reading the layers', async () => {
    const inspected = await cli(['bundle', 'inspect', bundle, '--json']);
    expect(inspected.code).toBe(0);
    const json = JSON.parse(inspected.stdout) as typeof report & { verified: boolean; sequence: number };
    expect(json.verified).toBe(false);
    expect(json.sequence).toBe(7);
    expect(json.images).toEqual(report.images);
    expect(json.signers).toEqual(report.signers);
  });
});

describe('bundle create fails cleanly', () => {
  async function failing(spec: string, env: Record<string, string> = {}) {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-fail-'));
    await writeFile(join(dir, 'airlock.yaml'), `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: x\n${spec}`);
    const res = await cli(['bundle', 'create', '-f', join(dir, 'airlock.yaml'), '--key', k('release.key'), '-o', join(dir, 'out.airlock')], { env });
    expect(await readdir(dir)).toEqual(['airlock.yaml']); // no output, no temporary leftovers
    return res;
  }

  it('when the registry is unreachable', async () => {
    const port = await freePort();
    const res = await failing(`images:\n  - 127.0.0.1:${port}/team/app:1.0\n`);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`image 127.0.0.1:${port}/team/app:1.0 (`);
    expect(res.stderr).toContain(`airlock.yaml:6): 127.0.0.1:${port}/team/app:1.0: cannot reach registry 127.0.0.1:${port} (ECONNREFUSED)`);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('when the registry refuses access (401), and succeeds with the credentials in DOCKER_CONFIG', async () => {
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `${user.name}:${user.password}`, `oci:${k('layout')}:worker`, `docker://${locked.host}/team/private:1.0`]);
    const spec = `images:\n  - ${locked.host}/team/private:1.0\n`;
    const emptyConfig = await mkdtemp(join(tmpdir(), 'airlock-noauth-'));
    const refused = await failing(spec, { DOCKER_CONFIG: emptyConfig });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`image ${locked.host}/team/private:1.0`);
    expect(refused.stderr).toContain(`refused access (401`);
    expect(refused.stderr).toContain('[REGISTRY_UNAUTHORIZED]');

    const config = await mkdtemp(join(tmpdir(), 'airlock-auth-'));
    await writeFile(join(config, 'config.json'), JSON.stringify({ auths: { [locked.host]: { auth: Buffer.from(`${user.name}:${user.password}`).toString('base64') } } }));
    const dir = await mkdtemp(join(tmpdir(), 'airlock-authok-'));
    await writeFile(join(dir, 'airlock.yaml'), `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: x\n${spec}`);
    const ok = await cli(['bundle', 'create', '-f', join(dir, 'airlock.yaml'), '--key', k('release.key'), '-o', join(dir, 'out.airlock')], { env: { DOCKER_CONFIG: config } });
    expect(ok.code, ok.stderr).toBe(0);
    expect((await cli(['bundle', 'verify', join(dir, 'out.airlock'), '--trust', k('root.json')])).code).toBe(0);
  });

  it('when the manifest is unknown', async () => {
    const res = await failing(`images:\n  - ${registry.host}/team/app:9.9\n`);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`image ${registry.host}/team/app:9.9`);
    expect(res.stderr).toContain('manifest unknown');
  });

  it('when a layer in the registry does not match its digest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-corrupt-'));
    const layer = await writeLayer(dir, 30_000);
    await tagLayout(dir, await writeImage(dir, [layer]), 'bad');
    await skopeoPush(dir, 'bad', `${registry.host}/team/bad:1.0`);
    const data = join(registry.storage, 'docker/registry/v2/blobs/sha256', layer.desc.digest.slice(7, 9), layer.desc.digest.slice(7), 'data');
    const bytes = await readFile(data);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(data, bytes);
    const res = await failing(`images:\n  - ${registry.host}/team/bad:1.0\n`);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`image ${registry.host}/team/bad:1.0: layer ${layer.desc.digest}`);
    expect(res.stderr).toContain('[DIGEST_MISMATCH]');
  });
});
