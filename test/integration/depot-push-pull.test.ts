/**
 * The depot: bundles pushed to a real docker-registry (which has no referrers API, so the sha256-<hex> tag schema
 * is what is exercised) and pulled back byte for byte; second releases move only their new blobs; the channel tag
 * moves last; skopeo reads what was pushed; tampering and missing tags fail clearly and write nothing.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINARY, cli } from '../helpers/cli.js';
import { run } from '../helpers/exec.js';
import { type Layer, tagLayout, writeImage, writeLayer } from '../helpers/images.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';
import { type RawEntry, joinTar, splitTar } from '../helpers/tar-edit.js';
import { type CountingProxy, mountedDigests, startCountingProxy, uploadedDigests } from './depot-proxy.js';

let registry: TestRegistry;
let proxy: CountingProxy;
let work: string;
let base: Layer;
let webLayer: Layer;
let workerLayer: Layer;
const k = (name: string) => join(work, name);
const env = () => ({ DOCKER_CONFIG: k('docker') });
const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');
const depot = (repo: string) => `oci://${proxy.host}/${repo}`;

async function skopeoRaw(ref: string): Promise<string> {
  const out = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]);
  return `sha256:${createHash('sha256').update(out).digest('hex')}`;
}

async function create(name: string, images: string[], sequence: number, extra: string[] = []): Promise<string> {
  const spec = k(`${name}.yaml`);
  await writeFile(
    spec,
    `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: depot-test\n  channel: stable\ndiscoverImages: false\nimages:\n${images.map((i) => `  - oci:./layout:${i}\n`).join('')}manifests:\n  - ./k8s\n`,
  );
  const r = await cli(['bundle', 'create', '-f', spec, '--key', k('release.key'), '-o', k(`${name}.airlock`), '--sequence', String(sequence), ...extra]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return k(`${name}.airlock`);
}

let r1: string;
let r2: string;
let root1: string;
let root2: string;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startCountingProxy(registry.host);
  work = await mkdtemp(join(tmpdir(), 'airlock-depot-'));
  await mkdir(k('docker'));
  await writeFile(k('docker/config.json'), '{}');
  expect((await cli(['keys', 'generate', '--out', k('root')])).code).toBe(0);
  expect((await cli(['keys', 'generate', '--out', k('release')])).code).toBe(0);
  expect((await cli(['trust', 'init', '--root-key', k('root.pub'), '--release-key', k('release.pub'), '--sign', k('root.key'), '--out', k('root.json')])).code).toBe(0);
  expect((await cli(['keys', 'generate', '--out', k('other')])).code).toBe(0);
  expect((await cli(['trust', 'init', '--root-key', k('other.pub'), '--release-key', k('other.pub'), '--sign', k('other.key'), '--out', k('other.json')])).code).toBe(0);
  const layout = k('layout');
  base = await writeLayer(layout, 200_000);
  webLayer = await writeLayer(layout, 30_000);
  workerLayer = await writeLayer(layout, 20_000);
  await tagLayout(layout, await writeImage(layout, [base, webLayer]), 'web:1');
  await tagLayout(layout, await writeImage(layout, [base, workerLayer]), 'worker:1');
  await mkdir(k('k8s'));
  await writeFile(k('k8s/cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: "1"\n');
  r1 = await create('r1', ['web:1'], 1);
  r2 = await create('r2', ['web:1', 'worker:1'], 2);
  const rootOf = async (file: string) => (JSON.parse((await cli(['bundle', 'inspect', file, '--json'])).stdout) as { rootDigest: string }).rootDigest;
  [root1, root2] = await Promise.all([rootOf(r1), rootOf(r2)]);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('bundle push and pull through a docker-registry depot', () => {
  it('pulls back a file byte-identical to the one pushed, verified against the trust root', async () => {
    const push = await cli(['bundle', 'push', r1, depot('fleet/a'), '--trust', k('root.json'), '--json'], { env: env() });
    expect(push.stderr).toBe('');
    expect(push.code).toBe(0);
    const result = JSON.parse(push.stdout) as { root: string; channel: string; referrers: string; uploaded: number };
    expect(result).toMatchObject({ root: root1, channel: 'stable', referrers: 'tag' });
    // skopeo, another client, sees the channel tag on the root and the referrers tag listing the signature.
    expect(await skopeoRaw(`${registry.host}/fleet/a:stable`)).toBe(root1);
    const referrers = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/fleet/a:${root1.replace(':', '-')}`])) as {
      manifests: { artifactType: string }[];
    };
    expect(referrers.manifests.map((m) => m.artifactType)).toEqual(['application/vnd.airlock.signature.v1+json']);

    const pull = await cli(['bundle', 'pull', `${depot('fleet/a')}:stable`, '-o', k('pulled1.airlock'), '--trust', k('root.json')], { env: env() });
    expect(pull.stderr).toBe('');
    expect(pull.code).toBe(0);
    expect(await sha256(k('pulled1.airlock'))).toBe(await sha256(r1));
    const verify = await cli(['bundle', 'verify', k('pulled1.airlock'), '--trust', k('root.json')]);
    expect(verify.code).toBe(0);
  });

  it('lets skopeo copy a pushed image out of the depot', async () => {
    const index = JSON.parse(await readFile(k('layout/index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    const web = index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === 'web:1');
    await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/fleet/a@${web?.digest ?? ''}`, `oci:${k('copied')}:web`]);
    const blobs = await readdir(k('copied/blobs/sha256'));
    expect(blobs).toContain(base.desc.digest.slice(7));
    expect(blobs).toContain(webLayer.desc.digest.slice(7));
  });

  it('uploads only the new blobs of a second release, moves the tag last, and pulls it back identical', async () => {
    proxy.log.length = 0;
    const push = await cli(['bundle', 'push', r2, depot('fleet/a')], { env: env() });
    expect(push.code).toBe(0);
    const uploads = uploadedDigests(proxy.log);
    expect(uploads).toContain(workerLayer.desc.digest);
    expect(uploads).not.toContain(base.desc.digest);
    expect(uploads).not.toContain(webLayer.desc.digest);
    const uploadedBytes = proxy.log.filter((r) => r.url.includes('/blobs/uploads/')).reduce((n, r) => n + r.bodyBytes, 0);
    expect(uploadedBytes).toBeLessThan(60_000); // the bundle is over 250 kB; the shared layers stay put
    // The channel tag is the last write of the push.
    const writes = proxy.log.filter((r) => r.method === 'PUT' || r.method === 'POST' || r.method === 'PATCH');
    expect(writes.at(-1)?.url).toBe('/v2/fleet/a/manifests/stable');
    expect(writes.filter((r) => r.url.endsWith('/manifests/stable'))).toHaveLength(1);
    expect(await skopeoRaw(`${registry.host}/fleet/a:stable`)).toBe(root2);

    const pull = await cli(['bundle', 'pull', `${depot('fleet/a')}:stable`, '-o', k('pulled2.airlock')], { env: env() });
    expect(pull.code).toBe(0);
    expect(await sha256(k('pulled2.airlock'))).toBe(await sha256(r2));
  });

  it('mounts shared blobs from another repository with --mount-from', async () => {
    proxy.log.length = 0;
    const push = await cli(['bundle', 'push', r2, depot('fleet/b'), '--mount-from', 'fleet/a'], { env: env() });
    expect(push.code).toBe(0);
    const mounted = mountedDigests(proxy.log);
    expect(mounted).toEqual(expect.arrayContaining([base.desc.digest, webLayer.desc.digest, workerLayer.desc.digest]));
    expect(uploadedDigests(proxy.log)).not.toContain(base.desc.digest);
    expect(await skopeoRaw(`${registry.host}/fleet/b:stable`)).toBe(root2);
  });

  it('leaves the channel tag where it was when the push fails before the end', async () => {
    expect((await cli(['bundle', 'push', r1, depot('fleet/c')], { env: env() })).code).toBe(0);
    proxy.fail = (method, url) => method === 'PUT' && url.includes('/manifests/sha256-');
    try {
      const push = await cli(['bundle', 'push', r2, depot('fleet/c')], { env: env() });
      expect(push.code).not.toBe(0);
      expect(push.stderr).toMatch(/500|injected/);
    } finally {
      delete proxy.fail;
    }
    expect(await skopeoRaw(`${registry.host}/fleet/c:stable`)).toBe(root1);
    // Pushing again completes it; what was already there is not uploaded twice.
    proxy.log.length = 0;
    expect((await cli(['bundle', 'push', r2, depot('fleet/c')], { env: env() })).code).toBe(0);
    expect(uploadedDigests(proxy.log)).toEqual([]);
    expect(await skopeoRaw(`${registry.host}/fleet/c:stable`)).toBe(root2);
  });

  it('leaves the channel tag where it was when a blob upload fails', async () => {
    expect((await cli(['bundle', 'push', r1, depot('fleet/e')], { env: env() })).code).toBe(0);
    proxy.log.length = 0;
    proxy.fail = (method, url) => method === 'PUT' && url.includes('/blobs/uploads/');
    try {
      const push = await cli(['bundle', 'push', r2, depot('fleet/e')], { env: env() });
      expect(push.code).toBe(1);
    } finally {
      delete proxy.fail;
    }
    expect(proxy.log.filter((r) => r.method === 'PUT' && r.url.includes('/manifests/'))).toEqual([]);
    expect(await skopeoRaw(`${registry.host}/fleet/e:stable`)).toBe(root1);
  });

  it('pushes split parts (joined and checked on the way) and pulls back their joined bytes', async () => {
    const parts = await create('r3', ['web:1'], 3, ['--split-size', '64KiB']);
    const names = (await readdir(work)).filter((n) => /^r3\.airlock\.\d{3}$/.test(n)).sort();
    expect(names.length).toBeGreaterThan(2);
    const joined = Buffer.concat(await Promise.all(names.map((n) => readFile(k(n)))));
    const push = await cli(['bundle', 'push', `${parts}.parts.json`, depot('fleet/parts'), '--trust', k('root.json')], { env: env() });
    expect(push.stderr).toBe('');
    expect(push.code).toBe(0);
    // To standard output, through the built executable.
    await run('sh', ['-c', `"${BINARY}" bundle pull ${depot('fleet/parts')}:stable -o - > "${k('pulled3.airlock')}"`], { env: { ...process.env, ...env() } });
    expect(await sha256(k('pulled3.airlock'))).toBe(createHash('sha256').update(joined).digest('hex'));
  });

  it('refuses a valid bundle that is not in canonical order, since no pull could reproduce it', async () => {
    const entries = splitTar(await readFile(r2));
    const last = entries.length - 1;
    [entries[last - 1], entries[last]] = [entries[last] as RawEntry, entries[last - 1] as RawEntry];
    await writeFile(k('reordered.airlock'), joinTar(entries));
    expect((await cli(['bundle', 'verify', k('reordered.airlock'), '--trust', k('root.json')])).code).toBe(0);
    proxy.log.length = 0;
    const push = await cli(['bundle', 'push', k('reordered.airlock'), depot('fleet/odd')], { env: env() });
    expect(push.code).toBe(1);
    expect(push.stderr).toMatch(/not in the canonical form.*\[BUNDLE_CORRUPT\]/);
    expect(proxy.log).toEqual([]); // refused before the registry was contacted
  });

  it('refuses a release the trust root does not accept, before any blob, and writes nothing', async () => {
    proxy.log.length = 0;
    const pull = await cli(['bundle', 'pull', `${depot('fleet/a')}:stable`, '-o', k('refused.airlock'), '--trust', k('other.json')], { env: env() });
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toMatch(/signature check failed/);
    expect(proxy.log.filter((r) => r.method === 'GET' && r.url.includes(workerLayer.desc.digest))).toEqual([]);
    expect((await readdir(work)).filter((n) => n.includes('refused'))).toEqual([]);
  });

  it('names a missing channel tag clearly', async () => {
    const pull = await cli(['bundle', 'pull', `${depot('fleet/a')}:nightly`, '-o', k('none.airlock')], { env: env() });
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toMatch(/no channel tag "nightly"/);
    expect((await readdir(work)).filter((n) => n.includes('none'))).toEqual([]);
  });

  it('fails on a blob tampered with in the registry storage and leaves no file behind', async () => {
    const data = join(registry.storage, 'docker/registry/v2/blobs/sha256', workerLayer.desc.digest.slice(7, 9), workerLayer.desc.digest.slice(7), 'data');
    const bytes = await readFile(data);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(data, bytes);
    const pull = await cli(['bundle', 'pull', `${depot('fleet/a')}:stable`, '-o', k('tampered.airlock'), '--trust', k('root.json')], { env: env() });
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toContain(workerLayer.desc.digest);
    expect(pull.stderr).toMatch(/digest/i);
    expect((await readdir(work)).filter((n) => n.includes('tampered'))).toEqual([]);
  });
});

describe('bundle push usage', () => {
  it('refuses a tag that is not the statement channel', async () => {
    const r = await cli(['bundle', 'push', r1, `${depot('fleet/a')}:beta`], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/channel "stable"/);
  });

  it('refuses a non-oci URL', async () => {
    const r = await cli(['bundle', 'pull', `docker://${registry.host}/fleet/a:stable`, '-o', k('x.airlock')], { env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/oci:\/\//);
  });
});

