/**
 * One engine moves bytes (after oras-go's copy.go): resolve the root, walk children before parents, skip what
 * the destination has, bounded concurrency, each digest copied once even when shared, digests verified while
 * streaming by the destination's push. Bundle import and registry pushes are this copy between targets.
 */
import type { Descriptor } from './descriptor.js';
import { childrenOf, hasChildren } from './graph.js';
import { canMount, fetchAll, type ReadOnlyStorage, type Storage } from './storage.js';
import { Readable, Transform } from 'node:stream';
import { isAirlockError } from './errors.js';

export interface CopyProgress {
  /** Called after a blob is present at the destination (`skipped` when it already was). */
  onCopied?: (desc: Descriptor, skipped: boolean) => void;
  /** Bytes flowing, for progress bars. */
  onBytes?: (n: number) => void;
}

export interface CopyGraphOptions extends CopyProgress {
  src: ReadOnlyStorage;
  dst: Storage;
  root: Descriptor;
  /** Only these platforms of an index (`os/arch[/variant]`); default every one. */
  platforms?: readonly string[];
  /** Whether to copy a layer; default true. Manifests, indexes and configs are always copied. */
  includeBlob?: (desc: Descriptor) => boolean;
  concurrency?: number;
  /**
   * A repository on the destination's registry that holds the blobs (the source, when both are repositories of
   * one registry), or a lookup naming one per blob: blobs are mounted from it instead of uploaded, when the
   * destination can mount.
   */
  mountFrom?: string | ((desc: Descriptor) => string | undefined);
  /** Attempts per blob on transient failures (the source is fetched again). */
  attempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

export async function copyGraph(opts: CopyGraphOptions): Promise<void> {
  const { src, dst, root, platforms, includeBlob = () => true, concurrency = 4, attempts = 3 } = opts;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const inFlight = new Map<string, Promise<void>>();
  const limit = limiter(concurrency);

  const copyBlob = (desc: Descriptor): Promise<void> =>
    limit(async () => {
      if (await dst.exists(desc)) {
        opts.onCopied?.(desc, true);
        return;
      }
      const from = typeof opts.mountFrom === 'function' ? opts.mountFrom(desc) : opts.mountFrom;
      if (from && canMount(dst) && (await dst.mount(desc, from))) {
        opts.onCopied?.(desc, true);
        return;
      }
      for (let attempt = 1; ; attempt++) {
        try {
          const stream = await src.fetch(desc);
          await dst.push(desc, opts.onBytes ? counted(stream, opts.onBytes) : stream);
          break;
        } catch (err) {
          const permanent = isAirlockError(err) && ['DIGEST_MISMATCH', 'SIZE_MISMATCH', 'BLOB_UNKNOWN', 'REGISTRY_UNAUTHORIZED'].includes(err.code);
          if (permanent || attempt >= attempts) throw err;
          await sleep(250 * 2 ** (attempt - 1));
        }
      }
      opts.onCopied?.(desc, false);
    });

  const visit = (desc: Descriptor, layer: boolean, pl?: readonly string[]): Promise<void> => {
    const existing = inFlight.get(desc.digest);
    if (existing) return existing;
    const work = (async () => {
      if (!hasChildren(desc)) {
        if (!layer || includeBlob(desc)) await copyBlob(desc);
        return;
      }
      const bytes = await limit(() => fetchAll(src, desc));
      const children = childrenOf(desc, bytes, pl);
      await Promise.all([...children.metadata.map((c) => visit(c, false)), ...children.blobs.map((c) => visit(c, true))]);
      if (!(await dst.exists(desc))) await dst.push(desc, Readable.from([bytes]));
      opts.onCopied?.(desc, false);
    })();
    inFlight.set(desc.digest, work);
    return work;
  };

  await visit(root, false, platforms);
}

/**
 * The stream, its bytes counted as the destination reads them. (A 'data' listener would set it flowing at once, and
 * a destination that reads only later, e.g. a registry upload that first asks whether the blob exists, lost them.)
 */
function counted(stream: Readable, onBytes: (n: number) => void): Readable {
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
  stream.on('error', (err) => counter.destroy(err));
  counter.on('close', () => stream.destroy());
  return stream.pipe(counter);
}

/** A tiny concurrency limiter: at most `n` tasks run at once. */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  const next = () => {
    active--;
    queue.shift()?.();
  };
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      next();
    }
  };
}
