import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { copyGraph } from '../../src/copy.js';
import { type Descriptor, MediaType } from '../../src/descriptor.js';
import { sha256Digest } from '../../src/digest.js';
import { MemoryStore } from '../../src/memory-store.js';
import { OciLayoutStore } from '../../src/oci-layout.js';

function blob(store: MemoryStore, mediaType: string, content: string | object): Descriptor {
  const bytes = Buffer.from(typeof content === 'string' ? content : JSON.stringify(content));
  const desc = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  store.pushBytes(desc, bytes);
  return desc;
}

/** A two-platform index whose images share a base layer. */
function fixture() {
  const src = new MemoryStore();
  const base = blob(src, MediaType.ociLayerGzip, 'base layer');
  const image = (arch: string) => {
    const config = blob(src, MediaType.ociConfig, { architecture: arch, os: 'linux' });
    const own = blob(src, MediaType.ociLayerGzip, `layer for ${arch}`);
    const m = blob(src, MediaType.ociManifest, { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [base, own] });
    return { ...m, platform: { os: 'linux', architecture: arch } };
  };
  const amd = image('amd64');
  const arm = image('arm64');
  const index = blob(src, MediaType.ociIndex, { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [amd, arm] });
  return { src, index, base, amd, arm };
}

/** Records pushes to check order and de-duplication. */
class RecordingStore extends MemoryStore {
  pushes: string[] = [];
  override async push(desc: Descriptor, content: Readable): Promise<void> {
    this.pushes.push(desc.digest);
    await super.push(desc, content);
  }
}

/** A destination that reads a blob only after a pause (as a registry upload that first asks whether it exists). */
class LateReader extends MemoryStore {
  override async push(desc: Descriptor, content: Readable): Promise<void> {
    await new Promise((r) => setTimeout(r, 30));
    await super.push(desc, content);
  }
}

describe('copyGraph', () => {
  it('counts bytes as the destination reads them, losing none to a destination that reads late', async () => {
    const src = new MemoryStore();
    // Several chunks, so that a stream set flowing early would have emitted most of them before the reader came.
    const big = Buffer.alloc(300_000, 7);
    const layer = { mediaType: MediaType.ociLayerGzip, digest: sha256Digest(big), size: big.length };
    src.pushBytes(layer, big);
    const config = blob(src, MediaType.ociConfig, { architecture: 'amd64', os: 'linux' });
    const manifest = blob(src, MediaType.ociManifest, { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer] });
    const fetchChunked = src.fetch.bind(src);
    src.fetch = async (d: Descriptor) => (d.digest === layer.digest ? Readable.from([big.subarray(0, 100_000), big.subarray(100_000, 200_000), big.subarray(200_000)], { objectMode: false }) : fetchChunked(d));
    const dst = new LateReader();
    let counted = 0;
    await copyGraph({ src, dst, root: manifest, onBytes: (n) => (counted += n) });
    expect(dst.bytes(layer).equals(big)).toBe(true);
    expect(counted).toBe(big.length + config.size);
  });

  it('copies a whole multi-arch index, children before parents, each digest once', async () => {
    const { src, index, base, amd, arm } = fixture();
    const dst = new RecordingStore();
    await copyGraph({ src, dst, root: index });
    expect(dst.pushes).toHaveLength(8); // index, 2 manifests, 2 configs, 3 layers
    expect(new Set(dst.pushes).size).toBe(8);
    expect(dst.pushes.filter((d) => d === base.digest)).toHaveLength(1);
    expect(dst.pushes.indexOf(amd.digest)).toBeGreaterThan(dst.pushes.indexOf(base.digest));
    expect(dst.pushes.indexOf(index.digest)).toBe(7);
    expect(dst.pushes.indexOf(index.digest)).toBeGreaterThan(dst.pushes.indexOf(arm.digest));
  });

  it('copies only the listed platforms', async () => {
    const { src, index, amd, arm } = fixture();
    const dst = new RecordingStore();
    await copyGraph({ src, dst, root: index, platforms: ['linux/arm64'] });
    expect(dst.has(arm.digest)).toBe(true);
    expect(dst.has(amd.digest)).toBe(false);
    expect(dst.pushes).toHaveLength(5);
  });

  it('skips what the destination already has', async () => {
    const { src, index, base } = fixture();
    const dst = new RecordingStore();
    dst.pushBytes(base, src.bytes(base));
    await copyGraph({ src, dst, root: index });
    expect(dst.pushes).not.toContain(base.digest);
  });

  it('fails when a source blob does not match its digest', async () => {
    const { src, index, base } = fixture();
    const lying = new MemoryStore();
    Object.assign(lying, src);
    lying.fetch = async (d: Descriptor) => (d.digest === base.digest ? Readable.from([Buffer.from('evil layer')]) : src.fetch(d));
    lying.exists = src.exists.bind(src);
    await expect(copyGraph({ src: lying, dst: new MemoryStore(), root: index, sleep: async () => undefined })).rejects.toThrow(/digest|bytes/);
  });
});

describe('OciLayoutStore', () => {
  it('verifies pushes and leaves no partial blob or ingest file on mismatch', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-layout-'));
    const store = await OciLayoutStore.open(dir, { create: true });
    const good = Buffer.from('good bytes');
    const desc = { mediaType: MediaType.ociLayerTar, digest: sha256Digest(good), size: good.length };
    await expect(store.push(desc, Readable.from([Buffer.from('evil bytes')]))).rejects.toThrow('content digest');
    expect(await store.exists(desc)).toBe(false);
    expect(await readdir(join(dir, 'ingest'))).toEqual([]);
    await store.push(desc, Readable.from([good]));
    expect(await store.exists(desc)).toBe(true);
    await store.push(desc, Readable.from([good])); // already exists: success
  });

  it('resolves by reference name and digest, and re-tags', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-layout-'));
    const store = await OciLayoutStore.open(dir, { create: true });
    const a = { mediaType: MediaType.ociManifest, digest: sha256Digest('a'), size: 1 };
    const b = { mediaType: MediaType.ociManifest, digest: sha256Digest('b'), size: 1 };
    await store.tag(a, 'app:1');
    await store.tag(b, 'app:1');
    expect((await store.resolve('app:1')).digest).toBe(b.digest);
    expect((await store.resolve(b.digest)).digest).toBe(b.digest);
    await expect(store.resolve('app:2')).rejects.toThrow('no image named app:2');
    await expect(OciLayoutStore.open(join(dir, 'nope'))).rejects.toThrow('not an OCI image layout');
  });
});
