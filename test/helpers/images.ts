/**
 * Test images built independently of airlock's code: plain fs writes of an OCI layout, pushed to a real registry
 * with skopeo. What airlock then reads was produced by another client.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { run } from './exec.js';

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function writeBlob(dir: string, bytes: Buffer, mediaType: string): Promise<Desc> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const digest = sha(bytes);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  return { mediaType, digest, size: bytes.length };
}

export interface Layer {
  desc: Desc;
  diffId: string;
}

/** A gzip layer from raw bytes (random when only a size is given). */
export async function writeLayer(dir: string, content: Buffer | number): Promise<Layer> {
  const raw = typeof content === 'number' ? randomBytes(content) : content;
  const gz = gzipSync(raw, { level: 1 });
  return { desc: await writeBlob(dir, gz, 'application/vnd.oci.image.layer.v1.tar+gzip'), diffId: sha(raw) };
}

export async function writeImage(dir: string, layers: Layer[], platform = { os: 'linux', architecture: 'amd64' }): Promise<Desc> {
  const config = await writeBlob(
    dir,
    Buffer.from(JSON.stringify({ ...platform, config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } })),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: layers.map((l) => l.desc) };
  return { ...(await writeBlob(dir, Buffer.from(JSON.stringify(manifest)), manifest.mediaType)), platform };
}

export async function writeIndex(dir: string, manifests: Desc[]): Promise<Desc> {
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
  return writeBlob(dir, Buffer.from(JSON.stringify(index)), index.mediaType);
}

export async function tagLayout(dir: string, desc: Desc, name: string): Promise<void> {
  let index: { schemaVersion: number; manifests: Desc[] } = { schemaVersion: 2, manifests: [] };
  try {
    index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as typeof index;
  } catch {
    // new layout
  }
  const { platform: _p, ...plain } = desc;
  index.manifests = [...index.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== name), { ...plain, annotations: { 'org.opencontainers.image.ref.name': name } }];
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

/** Pushes an image (or index, with every platform) from a layout to a registry with skopeo, digests preserved. */
export async function skopeoPush(dir: string, name: string, dest: string, extra: string[] = ['--all', '--preserve-digests']): Promise<void> {
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...extra, `oci:${dir}:${name}`, `docker://${dest}`]);
}

/** The manifest digest a registry serves for a reference, as skopeo sees it. */
export async function skopeoDigest(ref: string): Promise<string> {
  const out = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]);
  return sha(Buffer.from(out));
}
