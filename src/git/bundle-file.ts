/**
 * Writes a `git bundle` v2 file: header lines (prerequisites `-OID`, refs `OID NAME`), a blank line, then a
 * packfile (v2, whole objects, zlib-deflated, SHA-1 trailer). Objects are written one at a time, so memory holds
 * only the object being packed.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { AirlockError } from '../errors.js';

export type GitObjectType = 'commit' | 'tree' | 'blob' | 'tag';

const TYPE_CODE: Record<GitObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };

export interface GitBundleHeader {
  refs: { oid: string; name: string }[];
  prerequisites: string[];
}

export interface WrittenGitBundle {
  digest: string;
  size: number;
  objects: number;
}

/**
 * Streams the bundle to `path`; `readObject` supplies each object's content. Returns the sha256 digest and size
 * of the file, computed while writing.
 */
export async function writeGitBundle(
  path: string,
  header: GitBundleHeader,
  oids: string[],
  readObject: (oid: string) => Promise<{ type: GitObjectType; content: Uint8Array }>,
): Promise<WrittenGitBundle> {
  const out = createWriteStream(path);
  const fileHash = createHash('sha256');
  const packHash = createHash('sha1');
  let size = 0;
  let failure: Error | undefined;
  out.on('error', (err) => (failure = err));
  const write = async (chunk: Buffer, inPack: boolean) => {
    if (failure) throw failure;
    fileHash.update(chunk);
    if (inPack) packHash.update(chunk);
    size += chunk.length;
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
  };

  const lines = ['# v2 git bundle', ...header.prerequisites.map((oid) => `-${oid}`), ...header.refs.map((r) => `${r.oid} ${r.name}`), '', ''];
  await write(Buffer.from(lines.join('\n')), false);

  const packHeader = Buffer.alloc(12);
  packHeader.write('PACK', 0, 'latin1');
  packHeader.writeUInt32BE(2, 4);
  packHeader.writeUInt32BE(oids.length, 8);
  await write(packHeader, true);
  for (const oid of oids) {
    const { type, content } = await readObject(oid);
    const code = TYPE_CODE[type];
    if (!code) throw new AirlockError('GIT_ERROR', `object ${oid} has an unknown type ${type}`);
    await write(objectHeader(code, content.length), true);
    await write(deflateSync(content), true);
  }
  await write(packHash.digest(), false);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  if (failure) throw failure;
  return { digest: `sha256:${fileHash.digest('hex')}`, size, objects: oids.length };
}

/** Pack object header: type in bits 4-6 of the first byte, size as a little-endian base-128 varint. */
function objectHeader(type: number, size: number): Buffer {
  const bytes: number[] = [];
  let byte = (type << 4) | (size & 0x0f);
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes.push(byte | 0x80);
    byte = rest & 0x7f;
    rest = Math.floor(rest / 128);
  }
  bytes.push(byte);
  return Buffer.from(bytes);
}
