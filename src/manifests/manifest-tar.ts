/**
 * A manifest set's layer: a reproducible tar of YAML files (sorted names, fixed metadata), so the same files
 * always give the same digest and an unchanged set costs nothing in a delta.
 */
import { BLOCK, encodeHeader, paddingFor } from '../tar/header.js';
import { TarReader } from '../tar/reader.js';

export function buildManifestTar(files: { path: string; content: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    parts.push(encodeHeader(f.path, f.content.length), f.content, Buffer.alloc(paddingFor(f.content.length)));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** The files of a manifest set's layer, read with the strict tar reader (each file at most `limit` bytes). */
export async function readManifestTar(source: AsyncIterable<Buffer | Uint8Array>, limit = 8 * 1024 * 1024): Promise<{ path: string; content: Buffer }[]> {
  const tar = new TarReader(source);
  const files: { path: string; content: Buffer }[] = [];
  for (let header = await tar.next(); header; header = await tar.next()) files.push({ path: header.name, content: await tar.readBody(header, limit) });
  return files;
}
