/**
 * Where the bundle writer's bytes go: one file, or split parts. Either way the output is written under temporary
 * names and renamed into place only when complete, so a failed build leaves nothing at the destination.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OffThreadHash } from '../offthread-hash.js';
import { type PartEntry, partName } from './parts.js';

export interface ArchiveOutput {
  write(chunk: Buffer): Promise<void>;
  /** Completes the output and moves it into place. */
  finish(): Promise<{ parts?: PartEntry[] }>;
  /** Removes everything written. */
  abort(): Promise<void>;
}

function tmpName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${randomBytes(4).toString('hex')}`);
}

/** The whole archive in one file at `out`. */
export function fileOutput(out: string): ArchiveOutput {
  const tmp = tmpName(out);
  const file = new FileSink(tmp);
  return {
    write: (chunk) => file.write(chunk),
    async finish() {
      await file.close();
      await rename(tmp, out);
      return {};
    },
    async abort() {
      file.destroy();
      await rm(tmp, { force: true });
    },
  };
}

/** The archive written to a stream as it is made (`bundle create -o -`); a failure ends it short, never complete. */
export function streamOutput(stream: Writable): ArchiveOutput {
  const sink = new FileSink(stream);
  return {
    write: (chunk) => sink.write(chunk),
    async finish() {
      await sink.close();
      return {};
    },
    async abort() {
      sink.destroy();
    },
  };
}

/**
 * The archive as parts of `partSize` bytes (the last one shorter) next to `out`: `NAME.000`, `NAME.001`, … with
 * NAME the file name of `out`. Each part is hashed as it is written. `totalSize` fixes the width of the numbers.
 */
export function splitOutput(out: string, partSize: number, totalSize: number): ArchiveOutput {
  if (!Number.isSafeInteger(partSize) || partSize < 1) throw new Error(`split size must be a positive whole number of bytes, not ${partSize}`);
  const count = Math.max(1, Math.ceil(totalSize / partSize));
  const bundle = basename(out);
  const done: { entry: PartEntry; tmp: string }[] = [];
  // Parts are hashed on another thread: this one is busy checking the blobs' own digests.
  const hash = new OffThreadHash();
  let current: { sink: FileSink; tmp: string; size: number } | undefined;

  const closeCurrent = async () => {
    if (!current) return;
    await current.sink.close();
    done.push({ entry: { name: partName(bundle, done.length, count), size: current.size, sha256: await hash.digest() }, tmp: current.tmp });
    current = undefined;
  };

  return {
    async write(chunk) {
      let offset = 0;
      while (offset < chunk.length) {
        if (!current) {
          const tmp = tmpName(join(dirname(out), partName(bundle, done.length, count)));
          current = { sink: new FileSink(tmp), tmp, size: 0 };
        }
        const take = Math.min(partSize - current.size, chunk.length - offset);
        const piece = offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take);
        current.size += take;
        offset += take;
        await Promise.all([hash.update(piece), current.sink.write(piece)]);
        if (current.size === partSize) await closeCurrent();
      }
    },
    async finish() {
      await closeCurrent();
      hash.close();
      for (const part of done) await rename(part.tmp, join(dirname(out), part.entry.name));
      return { parts: done.map((p) => p.entry) };
    },
    async abort() {
      hash.close();
      current?.sink.destroy();
      const tmps = [...done.map((p) => p.tmp), ...(current ? [current.tmp] : [])];
      await Promise.all(tmps.map((t) => rm(t, { force: true })));
    },
  };
}

/** Writes with backpressure and surfaces stream errors on the next write. */
class FileSink {
  private readonly stream: Writable;
  private failure: Error | undefined;

  constructor(path: string | Writable) {
    this.stream = typeof path === 'string' ? createWriteStream(path, { highWaterMark: 4 * 1024 * 1024, flags: 'wx' }) : path;
    this.stream.on('error', (err: Error) => (this.failure = err));
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.stream.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          this.stream.off('error', reject);
          resolve();
        };
        this.stream.once('drain', onDrain);
        this.stream.once('error', reject);
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }

  destroy(): void {
    this.stream.destroy();
  }
}
