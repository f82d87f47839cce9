/**
 * A manifest set's layer: a reproducible tar of YAML files (sorted names, fixed metadata), so the same files
 * always give the same digest and an unchanged set costs nothing in a delta.
 */
import { BLOCK, encodeHeader, paddingFor } from '../tar/header.js';

export function buildManifestTar(files: { path: string; content: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    parts.push(encodeHeader(f.path, f.content.length), f.content, Buffer.alloc(paddingFor(f.content.length)));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
