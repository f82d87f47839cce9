/** The registry client against a real docker-registry: uploads, mounts, manifests, auth, retries. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyGraph } from '../../src/copy.js';
import { MediaType } from '../../src/descriptor.js';
import { RegistryClient, type FetchFn } from '../../src/registry/client.js';
import { credentialsFromConfig, loadDockerCredentials } from '../../src/registry/credentials.js';
import { RegistryRepository } from '../../src/registry/repository.js';
import { fetchAll } from '../../src/storage.js';
import { skopeoDigest, skopeoPush, tagLayout, writeImage, writeIndex, writeLayer } from '../helpers/images.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';
import { type TokenProxy, startTokenProxy } from '../helpers/token-proxy.js';

const user = { name: 'site', password: 's3cret-pass' };
let open: TestRegistry;
let locked: TestRegistry;
let proxy: TokenProxy;
let layout: string;

const blobDesc = (bytes: Buffer) => ({ mediaType: MediaType.ociLayerTar, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length });

/** Counts requests by method while passing them to the real fetch. */
function countingFetch(): { fetch: FetchFn; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetch: ((input: string | URL | Request, init?: RequestInit) => {
      calls.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
      return fetch(input, init);
    }) as FetchFn,
  };
}

beforeAll(async () => {
  [open, locked] = await Promise.all([startRegistry(), startRegistry({ user })]);
  proxy = await startTokenProxy(open.url, user);
  layout = await mkdtemp(join(tmpdir(), 'airlock-client-'));
  const base = await writeLayer(layout, 50_000);
  const amd = await writeImage(layout, [base, await writeLayer(layout, 10_000)], { os: 'linux', architecture: 'amd64' });
  const arm = await writeImage(layout, [base, await writeLayer(layout, 10_000)], { os: 'linux', architecture: 'arm64' });
  await tagLayout(layout, await writeIndex(layout, [amd, arm]), 'multi');
  await skopeoPush(layout, 'multi', `${open.host}/src/multi:1`);
  await skopeoPush(layout, 'multi', `${open.host}/src/legacy:1`, ['--format', 'v2s2', '--all']);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([open?.stop(), locked?.stop()]);
});

describe('blobs', () => {
  it('uploads monolithically and in chunks, then reads back the same bytes', async () => {
    const wire = await startTokenProxy(open.url); // counts what reaches the registry
    const client = new RegistryClient({ registry: wire.host });
    const repo = new RegistryRepository(client, 'blobs/chunked', { monolithicLimit: 1024 * 1024, chunkSize: 256 * 1024 });
    const big = randomBytes(1536 * 1024 + 17);
    const small = randomBytes(1000);
    await repo.push(blobDesc(big), Readable.from([big.subarray(0, 700_000), big.subarray(700_000)]));
    await repo.push(blobDesc(small), Readable.from([small]));
    expect(wire.requests.filter((c) => c.startsWith('PATCH'))).toHaveLength(7); // ceil(1.5 MiB / 256 KiB)
    expect(wire.requests.filter((c) => c.startsWith('PUT'))).toHaveLength(2);
    expect(await repo.exists(blobDesc(big))).toBe(true);
    expect((await fetchAll(repo, blobDesc(big), 4 << 20)).equals(big)).toBe(true);
    expect((await fetchAll(repo, blobDesc(small))).equals(small)).toBe(true);
    await wire.stop();
  });

  it('refuses content that does not match its digest, and the registry does not keep it', async () => {
    const repo = new RegistryRepository(new RegistryClient({ registry: open.host }), 'blobs/bad');
    const good = randomBytes(5000);
    await expect(repo.push(blobDesc(good), Readable.from([randomBytes(5000)]))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await repo.exists(blobDesc(good))).toBe(false);
  });

  it('mounts a blob from another repository of the same registry', async () => {
    const client = new RegistryClient({ registry: open.host });
    const bytes = randomBytes(4096);
    await new RegistryRepository(client, 'mount/from').push(blobDesc(bytes), Readable.from([bytes]));
    const to = new RegistryRepository(client, 'mount/to');
    expect(await to.exists(blobDesc(bytes))).toBe(false);
    expect(await to.mount(blobDesc(bytes), 'mount/from')).toBe(true);
    expect(await to.exists(blobDesc(bytes))).toBe(true);
  });

  it('retries transient failures of idempotent requests', async () => {
    let failures = 2;
    const flaky: FetchFn = ((input: string | URL | Request, init?: RequestInit) => {
      if (failures-- > 0) return Promise.resolve(new Response('busy', { status: 503 }));
      return fetch(input, init);
    }) as FetchFn;
    const repo = new RegistryRepository(new RegistryClient({ registry: open.host, fetch: flaky, sleep: async () => undefined }), 'src/multi');
    expect((await repo.resolve('1')).mediaType).toBe(MediaType.ociIndex);
    expect(failures).toBe(-1);
  });
});

describe('manifests', () => {
  it('resolves OCI indexes and Docker manifest lists by tag and digest, with their media types', async () => {
    const client = new RegistryClient({ registry: open.host });
    const oci = await new RegistryRepository(client, 'src/multi').resolve('1');
    expect(oci).toMatchObject({ mediaType: MediaType.ociIndex, digest: await skopeoDigest(`${open.host}/src/multi:1`) });
    const legacyRepo = new RegistryRepository(client, 'src/legacy');
    const docker = await legacyRepo.resolve('1');
    expect(docker.mediaType).toBe(MediaType.dockerManifestList);
    expect((await legacyRepo.resolve(docker.digest)).digest).toBe(docker.digest);
    const { bytes } = await legacyRepo.getManifest(docker.digest);
    const child = (JSON.parse(bytes.toString()) as { manifests: { mediaType: string; digest: string }[] }).manifests[0]!;
    expect((await legacyRepo.resolve(child.digest)).mediaType).toBe(MediaType.dockerManifest);
    await legacyRepo.tag(docker, 'retagged');
    expect(await skopeoDigest(`${open.host}/src/legacy:retagged`)).toBe(docker.digest);
  });

  it('copies a whole index between repositories and skips everything on a second copy', async () => {
    const counting = countingFetch();
    const client = new RegistryClient({ registry: open.host, fetch: counting.fetch });
    const src = new RegistryRepository(client, 'src/multi');
    const dst = new RegistryRepository(client, 'dst/multi');
    const root = await src.resolve('1');
    await copyGraph({ src, dst, root });
    await dst.tag(root, '1');
    expect(await skopeoDigest(`${open.host}/dst/multi:1`)).toBe(root.digest);
    counting.calls.length = 0;
    await copyGraph({ src, dst, root });
    expect(counting.calls.filter((c) => !c.startsWith('HEAD') && !c.startsWith('GET'))).toEqual([]);
  });

  it('mounts layers instead of uploading them when copying within one registry', async () => {
    const counting = countingFetch();
    const client = new RegistryClient({ registry: open.host, fetch: counting.fetch });
    const src = new RegistryRepository(client, 'src/multi');
    const root = await src.resolve('1');
    await copyGraph({ src, dst: new RegistryRepository(client, 'mounted/multi'), root, mountFrom: 'src/multi' });
    expect(counting.calls.filter((c) => c.startsWith('POST'))).toHaveLength(5); // 3 layers + 2 configs, all mounted
    expect(counting.calls.filter((c) => c.startsWith('PUT /v2/mounted/multi/blobs'))).toEqual([]);
    expect(counting.calls.filter((c) => c.startsWith('GET /v2/src/multi/blobs'))).toEqual([]);
    expect(await skopeoDigest(`${open.host}/mounted/multi@${root.digest}`)).toBe(root.digest);
  });
});

describe('authentication', () => {
  it('answers 401 as a clear error without credentials (Basic)', async () => {
    const repo = new RegistryRepository(new RegistryClient({ registry: locked.host }), 'team/app');
    await expect(repo.resolve('1')).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED', message: expect.stringContaining(`docker login ${locked.host}`) });
  });

  it('uses Basic credentials from a Docker config.json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-docker-config-'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [locked.host]: { auth: Buffer.from(`${user.name}:${user.password}`).toString('base64') } } }));
    const credentials = await loadDockerCredentials(join(dir, 'config.json'));
    const repo = new RegistryRepository(new RegistryClient({ registry: locked.host, credentials }), 'team/app');
    const bytes = randomBytes(2048);
    await repo.push(blobDesc(bytes), Readable.from([bytes]));
    expect(await repo.exists(blobDesc(bytes))).toBe(true);
    const wrong = credentialsFromConfig({ auths: { [`https://${locked.host}/v1/`]: { username: user.name, password: 'nope' } } });
    await expect(new RegistryRepository(new RegistryClient({ registry: locked.host, credentials: wrong }), 'team/app').exists(blobDesc(bytes))).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
  });

  it('follows a Bearer challenge to the token service, with Basic credentials, and caches the token', async () => {
    const credentials = credentialsFromConfig({ auths: { [proxy.host]: { username: user.name, password: user.password } } });
    const client = new RegistryClient({ registry: proxy.host, credentials });
    proxy.tokenRequests.length = 0;
    const repo = new RegistryRepository(client, 'src/multi');
    const root = await repo.resolve('1');
    expect(root.digest).toBe(await skopeoDigest(`${open.host}/src/multi:1`));
    await repo.exists(root);
    expect(proxy.tokenRequests).toEqual(['repository:src/multi:pull']);
    const dst = new RegistryRepository(client, 'proxied/copy');
    await copyGraph({ src: repo, dst, root });
    expect(await skopeoDigest(`${open.host}/proxied/copy@${root.digest}`)).toBe(root.digest);
  });

  it('reports a refused token request', async () => {
    const repo = new RegistryRepository(new RegistryClient({ registry: proxy.host }), 'src/multi');
    await expect(repo.resolve('1')).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED', message: expect.stringContaining('token service answered 401') });
  });
});
