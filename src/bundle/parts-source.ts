/**
 * Reading split parts back: find the index (a parts directory or `NAME.parts.json`), check every part's presence
 * and size before a byte is read, then join them as one stream, hashing each part as it passes and failing at
 * the first part whose sha256 is not the index's. Joining is streaming: nothing is copied or staged.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AirlockError } from '../errors.js';
import type { HashPool } from '../hash-pool.js';
import { OffThreadHash } from '../offthread-hash.js';
import { PARTS_INDEX_SUFFIX, type PartEntry, type PartsIndex } from './parts.js';

export type BundleLocation = { kind: 'file'; path: string } | { kind: 'parts'; indexPath: string; dir: string };

/** A bundle file, a directory holding one `*.parts.json`, or a `*.parts.json` file. */
export async function locateBundle(path: string): Promise<BundleLocation> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new AirlockError('NOT_FOUND', `cannot read ${path}: ${err.code ?? err.message}`);
  });
  if (info.isDirectory()) {
    const indexes = (await readdir(path)).filter((n) => n.endsWith(PARTS_INDEX_SUFFIX) && !n.startsWith('.'));
    if (indexes.length === 0) throw new AirlockError('NOT_FOUND', `${path} is a directory without a *${PARTS_INDEX_SUFFIX} parts index`);
    if (indexes.length > 1) throw new AirlockError('USAGE', `${path} holds ${indexes.length} parts indexes (${indexes.join(', ')}); name one of them`);
    return { kind: 'parts', indexPath: join(path, indexes[0] ?? ''), dir: path };
  }
  if (!info.isFile()) throw new AirlockError('NOT_FOUND', `${path} is not a file`);
  if (path.endsWith(PARTS_INDEX_SUFFIX)) return { kind: 'parts', indexPath: path, dir: dirname(path) };
  return { kind: 'file', path };
}

export async function readIndexText(indexPath: string): Promise<string> {
  const info = await stat(indexPath);
  if (info.size > 4 * 1024 * 1024) throw new AirlockError('BUNDLE_CORRUPT', `${indexPath} is too large to be a parts index`);
  return readFile(indexPath, 'utf8');
}

/** Every part present with its listed size, or one error naming each missing or wrong-sized part. */
export async function checkPartSizes(dir: string, index: PartsIndex): Promise<void> {
  const problems: string[] = [];
  for (const part of index.parts) {
    const info = await stat(join(dir, part.name)).catch(() => undefined);
    if (!info?.isFile()) problems.push(`${part.name} is missing`);
    else if (info.size !== part.size) problems.push(`${part.name} has ${info.size} bytes, the index says ${part.size} (${info.size < part.size ? 'truncated' : 'not this part'})`);
  }
  if (problems.length) {
    const code = problems.every((p) => p.endsWith('is missing')) ? 'PART_MISSING' : 'PART_INVALID';
    throw new AirlockError(code, `split parts of ${index.bundle} in ${dir}: ${problems.join('; ')}`);
  }
}

export interface JoinOptions {
  /** Called after each part checked out. */
  onPart?: (part: PartEntry) => void;
  highWaterMark?: number;
  /**
   * Hash each part as it passes (default). A reader that verifies the joined bundle itself (every byte of a bundle
   * is covered by its signature and digests, ADR 001) may skip it and call `explain` after a failure instead.
   */
  hashParts?: boolean;
  /**
   * Read the files straight into this pool's ring (no buffer allocated per chunk) and hash the parts on it; the
   * reader of the source should hash on the same pool (`readBundle`'s `hashPool`).
   */
  pool?: HashPool;
}

/** The parts as one stream; throws PART_INVALID naming the part whose bytes do not match the index. */
export async function* joinParts(dir: string, index: PartsIndex, { onPart, highWaterMark = 1024 * 1024, hashParts = true, pool }: JoinOptions = {}): AsyncGenerator<Buffer> {
  // Parts are hashed on another thread: this one is busy with the bundle's own digests.
  const offThread = hashParts && !pool ? new OffThreadHash() : undefined;
  const ring = pool?.reader();
  try {
    for (const part of index.parts) {
      let size = 0;
      const path = join(dir, part.name);
      const stream = ring ? ring.file(path) : createReadStream(path, { highWaterMark });
      const pooled = hashParts ? pool?.hasher() : undefined;
      try {
        for await (const chunk of stream) {
          const buf = chunk as Buffer;
          size += buf.length;
          if (size > part.size) break;
          await (pooled ?? offThread)?.update(buf);
          yield buf;
        }
      } finally {
        if (stream instanceof Readable) stream.destroy();
        else await stream.return(undefined);
      }
      const digest = pooled ?? offThread;
      if (size !== part.size || (digest && (await digest.digest()) !== part.sha256)) {
        pooled?.abort();
        throw partMismatch(index, part);
      }
      onPart?.(part);
    }
  } finally {
    offThread?.close();
    ring?.close();
  }
}

/**
 * After a read of joined parts failed: hash the parts again, each on its own, and name those that do not match
 * the index (a swapped, foreign or damaged part). Undefined when every part matches.
 */
export async function findBadParts(dir: string, index: PartsIndex): Promise<AirlockError | undefined> {
  const bad: string[] = [];
  for (const part of index.parts) {
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of createReadStream(join(dir, part.name), { highWaterMark: 1024 * 1024 })) {
        size += (chunk as Buffer).length;
        hash.update(chunk as Buffer);
      }
    } catch {
      bad.push(`${part.name} cannot be read`);
      continue;
    }
    if (size !== part.size || hash.digest('hex') !== part.sha256) bad.push(part.name);
  }
  if (!bad.length) return undefined;
  return new AirlockError('PART_INVALID', `split parts of ${index.bundle}: ${bad.join(', ')} ${bad.length === 1 ? 'does' : 'do'} not match the parts index (damaged, swapped, or from another bundle)`);
}

function partMismatch(index: PartsIndex, part: PartEntry): AirlockError {
  return new AirlockError('PART_INVALID', `split part ${part.name} of ${index.bundle} does not match the parts index (damaged, swapped, or from another bundle)`);
}

/** The file name of the index for parts next to `bundlePath`. */
export function indexPathFor(bundlePath: string): string {
  return join(dirname(bundlePath), `${basename(bundlePath)}${PARTS_INDEX_SUFFIX}`);
}

/** An opened bundle, whole or in parts, ready to be read once. */
export interface BundleSource {
  /** The path the user gave, for messages. */
  label: string;
  /** Bytes of the whole archive. */
  size: number;
  source: AsyncIterable<Buffer>;
  /** Set when the bundle comes in split parts. */
  parts?: PartsIndex;
  /** Fails unless the parts index belongs to the bundle whose statement names `rootDigest`. */
  checkRoot(rootDigest: string): void;
  /** After a failed read: an error naming the bad parts when parts are to blame, else `err` itself. */
  explain(err: unknown): Promise<unknown>;
  close(): void;
}

export interface OpenOptions extends JoinOptions {
  /** Parses (and, where the caller can, verifies the signature of) the parts index text. */
  readIndex: (text: string, label: string) => PartsIndex;
}

/** Opens a bundle file, a parts directory or a parts index; parts are checked for presence and size up front. */
export async function openBundleSource(path: string, { readIndex, highWaterMark = 1024 * 1024, ...join }: OpenOptions): Promise<BundleSource> {
  const where = await locateBundle(path);
  if (where.kind === 'file') {
    const size = (await stat(where.path)).size;
    if (join.pool) {
      const ring = join.pool.reader();
      const chunks = ring.file(where.path);
      const close = () => void chunks.return(undefined).finally(() => ring.close());
      return { label: path, size, source: chunks, checkRoot: () => undefined, explain: async (err) => err, close };
    }
    const stream = createReadStream(where.path, { highWaterMark });
    return { label: path, size, source: stream, checkRoot: () => undefined, explain: async (err) => err, close: () => stream.destroy() };
  }
  const index = readIndex(await readIndexText(where.indexPath), where.indexPath);
  await checkPartSizes(where.dir, index);
  const joined = joinParts(where.dir, index, { highWaterMark, ...join });
  return {
    label: path,
    size: index.size,
    source: joined,
    parts: index,
    checkRoot(rootDigest) {
      if (rootDigest !== index.root) throw new AirlockError('PART_INVALID', `${where.indexPath} lists the parts of bundle ${index.root}, but the parts hold bundle ${rootDigest}`);
    },
    async explain(err) {
      if (err instanceof AirlockError && (err.code === 'PART_INVALID' || err.code === 'PART_MISSING')) return err;
      return (await findBadParts(where.dir, index)) ?? err;
    },
    close: () => void joined.return(undefined),
  };
}
