/**
 * SHA-256 of a stream's independent blobs on every core (ADR 019). One sequential read fills a ring of shared
 * memory slots (a `SharedArrayBuffer`); each blob (a "job") is hashed on one worker thread, in order, from the
 * slots its bytes landed in, while the next blob's bytes are read and handed to another worker. Nothing is copied
 * to a worker and nothing is allocated per chunk: the ring is the only buffer, so memory stays flat, and a reader
 * that outruns the hashers waits for a slot (backpressure).
 *
 * Chunks that are views of the ring (from `readFile`) are hashed where they lie; any other chunk is first copied
 * into the ring. A slot is reused only when every job that was handed a view of it has hashed it and the producer
 * has let go of it (the producer holds its last two chunks, which a tar reader may still be joining).
 */
import { open } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

// Inline (eval) so it runs the same from TypeScript sources under test and from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, writeSync, fdatasyncSync, closeSync } = require('node:fs');
const ring = new Uint8Array(workerData.ring);
const cancel = new Int32Array(workerData.cancel);
const jobs = new Map();
let rangeBuffer;
parentPort.on('message', (m) => {
  if (m.f !== undefined) {
    // A file range, read here (its own descriptor, opened and closed per range) and hashed: the thread's own work.
    // With a destination, the bytes are also written there and synced to disk. Files are closed before the answer
    // goes out: an answered range holds nothing open.
    let fd;
    let out;
    let answer;
    try {
      fd = openSync(m.f, 'r');
      if (m.w !== undefined) out = openSync(m.w, 'w');
      rangeBuffer ??= Buffer.allocUnsafe(workerData.rangeRead);
      const h = createHash('sha256');
      let left = m.n;
      let at = m.p;
      while (left > 0 && Atomics.load(cancel, 0) === 0) {
        const got = readSync(fd, rangeBuffer, 0, Math.min(rangeBuffer.length, left), at);
        if (got === 0) break;
        h.update(got === rangeBuffer.length ? rangeBuffer : rangeBuffer.subarray(0, got));
        if (out !== undefined) for (let done = 0; done < got; ) done += writeSync(out, rangeBuffer, done, got - done);
        left -= got;
        at += got;
      }
      if (left > 0 && Atomics.load(cancel, 0) !== 0) answer = { j: m.j, n: m.n, e: 'the hash pool is closed' };
      else {
        if (out !== undefined && left === 0) fdatasyncSync(out);
        answer = { j: m.j, n: m.n, d: left > 0 ? '' : h.digest('hex'), short: left > 0 ? m.n - left : undefined };
      }
    } catch (err) {
      answer = { j: m.j, n: m.n, e: String((err && err.message) || err), c: err && err.code };
    }
    if (fd !== undefined) closeSync(fd);
    if (out !== undefined) closeSync(out);
    parentPort.postMessage(answer);
  } else if (m.l !== undefined) {
    let h = jobs.get(m.j);
    if (!h) jobs.set(m.j, (h = createHash('sha256')));
    h.update(ring.subarray(m.o, m.o + m.l));
    parentPort.postMessage({ o: m.o, l: m.l });
  } else {
    const h = jobs.get(m.j) ?? createHash('sha256');
    jobs.delete(m.j);
    parentPort.postMessage({ j: m.j, d: m.end ? h.digest('hex') : '' });
  }
});
`;

export interface HashPoolOptions {
  /** Worker threads (default 2: the blobs of one stream are hashed on two cores). */
  threads?: number;
  /** Bytes per slot (default 1 MiB) and slots in the ring (default 16): the pool's whole memory. */
  slotSize?: number;
  slots?: number;
  /** Start every thread now rather than when first needed (their start-up then overlaps the caller's own). */
  eager?: boolean;
}

interface Lane {
  worker: Worker;
  /** Bytes handed to this worker and not yet hashed. */
  queued: number;
  /** Jobs placed on it and not yet digested or aborted. */
  open: number;
}

/** The hash of one blob, fed in order, on one worker. */
export interface PooledHash {
  /** Hands the chunk's bytes to the worker (a ring view as is, anything else copied into the ring first). */
  update(chunk: Uint8Array): Promise<void>;
  /** The hex digest of everything updated. */
  digest(): Promise<string>;
  /** Forgets the job (after a failure); its queued bytes are still released. */
  abort(): void;
}

export class HashPool {
  readonly slotSize: number;
  private readonly ring: SharedArrayBuffer;
  private readonly view: Uint8Array;
  /** References to each slot: views handed to workers, plus the producer's hold. */
  private readonly refs: number[];
  private readonly free: number[] = [];
  private readonly waiters: (() => void)[] = [];
  private readonly lanes: Lane[] = [];
  private readonly threads: number;
  private readonly results = new Map<number, { resolve: (hex: string) => void; reject: (err: Error) => void }>();
  private nextJob = 1;
  /** Set when the pool stops: a worker reading a file range stops at its next read. */
  private readonly cancel = new SharedArrayBuffer(4);
  /** File ranges handed out and not yet answered (each holds a descriptor open on its worker). */
  private readonly ranges = new Set<Promise<unknown>>();
  private failure: Error | undefined;
  private closed = false;
  /** The slot that copied chunks are packed into, and how far it is filled. */
  private copySlot = -1;
  private copyFill = 0;
  /** Hands over the bytes of the job that copied last into the copy slot and has not handed them over yet. */
  private copyOwner: (() => void) | undefined;

  constructor({ threads = 2, slotSize = 1024 * 1024, slots = 16, eager = false }: HashPoolOptions = {}) {
    this.slotSize = slotSize;
    this.ring = new SharedArrayBuffer(slotSize * slots);
    this.view = new Uint8Array(this.ring);
    this.refs = new Array<number>(slots).fill(0);
    for (let i = 0; i < slots; i++) this.free.push(i);
    this.threads = Math.max(1, threads);
    if (eager) while (this.lanes.length < this.threads) this.startLane();
  }

  /**
   * A new blob's hash, placed on an idle worker, or on the one with the least work queued. Workers start when first
   * needed (a small bundle whose blobs never overlap starts one).
   */
  hasher(): PooledHash {
    const job = this.nextJob++;
    const lane = this.leastBusyLane();
    lane.open++;
    let done = false;
    const post = (offset: number, length: number) => {
      const slot = Math.floor(offset / this.slotSize);
      this.refs[slot] = (this.refs[slot] ?? 0) + 1;
      lane.queued += length;
      lane.worker.postMessage({ j: job, o: offset, l: length });
      this.holdProcess();
    };
    // This job's bytes copied into the current copy slot and not yet handed to its worker.
    let pendingOffset = 0;
    let pendingLength = 0;
    const flush = () => {
      if (pendingLength) post(pendingOffset, pendingLength);
      pendingLength = 0;
      if (this.copyOwner === flush) this.copyOwner = undefined;
    };
    return {
      update: async (chunk) => {
        this.check();
        if (done) throw new Error('PooledHash.update() after digest() or abort()');
        if (chunk.buffer === this.ring) {
          // A view of the ring: hashed where it lies, in slot-sized pieces (a view never spans two slots' owners).
          for (let at = 0; at < chunk.length; ) {
            const offset = chunk.byteOffset + at;
            const take = Math.min(chunk.length - at, this.slotSize - (offset % this.slotSize));
            post(offset, take);
            at += take;
          }
          return;
        }
        // Anything else is copied into the ring, packed: small chunks (64 KiB from a socket or a file stream) are
        // handed over a slot at a time, not a message each.
        for (let at = 0; at < chunk.length; ) {
          if (this.copyOwner !== flush) this.copyOwner?.();
          if (this.copySlot < 0 || this.copyFill === this.slotSize) {
            flush();
            const slot = await this.acquire();
            if (this.copySlot >= 0 && this.copyFill < this.slotSize) {
              this.unref(slot); // another job installed a slot while this one waited
              continue;
            }
            if (this.copySlot >= 0) this.unref(this.copySlot);
            this.copySlot = slot;
            this.copyFill = 0;
            continue;
          }
          const take = Math.min(chunk.length - at, this.slotSize - this.copyFill);
          const offset = this.copySlot * this.slotSize + this.copyFill;
          this.view.set(chunk.subarray(at, at + take), offset);
          this.copyFill += take;
          at += take;
          if (pendingLength === 0) pendingOffset = offset;
          pendingLength += take;
          this.copyOwner = flush;
          if (this.copyFill === this.slotSize) flush();
        }
      },
      digest: () => {
        if (!done) lane.open--;
        if (!done) flush();
        done = true;
        if (this.failure) return Promise.reject(this.failure);
        return new Promise<string>((resolve, reject) => {
          this.results.set(job, { resolve, reject });
          lane.worker.postMessage({ j: job, end: true });
          this.holdProcess();
        });
      },
      abort: () => {
        if (done) return;
        lane.open--;
        done = true;
        pendingLength = 0;
        if (this.copyOwner === flush) this.copyOwner = undefined;
        if (!this.failure && !this.closed) lane.worker.postMessage({ j: job, end: false });
      },
    };
  }

  /**
   * SHA-256 of `length` bytes of the file at `path` from `position`, read and hashed on a worker thread with a
   * buffer of its own (not the ring): blobs of one file are then hashed side by side, each worker reading its own
   * range. Placed on an idle worker, or the one with the fewest bytes queued. Rejects with `RangeShortError` when the
   * file ends inside the range. With `copyTo`, the worker also writes the bytes to that file (created or truncated)
   * and syncs it to disk before it answers (an import's blob, written by the thread that hashes it, ADR 022); the
   * caller removes it after a failure. An error's `code` (ENOSPC, EIO) is kept.
   */
  hashFileRange(path: string, position: number, length: number, copyTo?: string): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    const job = this.nextJob++;
    const lane = this.leastBusyLane();
    lane.queued += length;
    const answer = new Promise<string>((resolve, reject) => {
      this.results.set(job, { resolve, reject });
      lane.worker.postMessage({ j: job, f: path, p: position, n: length, ...(copyTo !== undefined ? { w: copyTo } : {}) });
      this.holdProcess();
    });
    const settled = answer.then(
      () => undefined,
      () => undefined,
    );
    this.ranges.add(settled);
    void settled.then(() => this.ranges.delete(settled));
    return answer;
  }

  /**
   * Stops the workers once the file ranges in flight have let go of their files (each stops at its next read), so
   * that no descriptor is left open; then `close`.
   */
  async stop(): Promise<void> {
    Atomics.store(new Int32Array(this.cancel), 0, 1);
    await Promise.all([...this.ranges]);
    this.close();
  }

  /**
   * Files read front to back straight into the ring, one after the other as one stream: each chunk is a view of one
   * slot, valid until the chunk after the next one is taken (a reader may still join the previous chunk's tail with
   * the next chunk, across files too). `close` lets go of the last chunks. One reader per pool at a time.
   */
  reader(): { file(path: string): AsyncGenerator<Buffer>; close(): void } {
    const held: number[] = [];
    const take = (slot: number) => {
      held.push(slot);
      while (held.length > 2) this.unref(held.shift() as number);
    };
    const file = async function* (this: HashPool, path: string): AsyncGenerator<Buffer> {
      const handle = await open(path, 'r');
      try {
        for (;;) {
          this.check();
          const slot = await this.acquire();
          take(slot);
          const buf = Buffer.from(this.ring, slot * this.slotSize, this.slotSize);
          const { bytesRead } = await handle.read(buf, 0, buf.length, null);
          if (bytesRead === 0) break;
          yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
        }
      } finally {
        await handle.close();
      }
    }.bind(this);
    return { file, close: () => held.splice(0).forEach((slot) => this.unref(slot)) };
  }

  /** Stops the workers; pending digests fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fail(new Error('the hash pool is closed'));
    for (const lane of this.lanes) void lane.worker.terminate();
  }

  private leastBusyLane(): Lane {
    const idle = this.lanes.find((l) => l.queued === 0 && l.open === 0);
    return idle ?? (this.lanes.length < this.threads ? this.startLane() : this.lanes.reduce((a, b) => (b.open * this.slotSize + b.queued < a.open * this.slotSize + a.queued ? b : a)));
  }

  private startLane(): Lane {
    // A worker allocates next to nothing (a message per MiB): small heap limits keep its isolate's RSS small.
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ring: this.ring, cancel: this.cancel, rangeRead: RANGE_READ }, resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 } });
    const lane: Lane = { worker, queued: 0, open: 0 };
    worker.on('message', (m: { o?: number; l?: number; j?: number; d?: string; n?: number; short?: number; e?: string; c?: string }) => {
      if (m.o !== undefined && m.l !== undefined) {
        lane.queued -= m.l;
        this.unref(Math.floor(m.o / this.slotSize));
      } else if (m.j !== undefined) {
        if (m.n !== undefined) lane.queued -= m.n; // a file range
        const waiting = this.results.get(m.j);
        this.results.delete(m.j);
        if (m.e !== undefined) waiting?.reject(Object.assign(new Error(m.e), m.c ? { code: m.c } : {}));
        else if (m.short !== undefined) waiting?.reject(new RangeShortError(m.short));
        else waiting?.resolve(m.d ?? '');
      }
      this.holdProcess();
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`a hashing thread stopped (exit code ${code})`));
    });
    worker.unref();
    this.lanes.push(lane);
    return lane;
  }

  /** Whether a worker failed or the pool was closed: it hashes nothing more. */
  get broken(): boolean {
    return this.failure !== undefined;
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const { reject } of this.results.values()) reject(this.failure);
    this.results.clear();
    this.waiters.splice(0).forEach((w) => w());
  }

  /** A free slot, held once by the caller; waits while every slot is in use. */
  private async acquire(): Promise<number> {
    for (;;) {
      this.check();
      const slot = this.free.pop();
      if (slot !== undefined) {
        this.refs[slot] = 1;
        return slot;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private unref(slot: number): void {
    const left = (this.refs[slot] ?? 0) - 1;
    this.refs[slot] = left;
    if (left === 0) {
      this.free.push(slot);
      this.waiters.shift()?.();
    }
  }

  /** The workers keep the process alive only while work is in flight. */
  private holdProcess(): void {
    for (const lane of this.lanes) {
      if (lane.queued > 0 || this.results.size > 0) lane.worker.ref();
      else lane.worker.unref();
    }
  }
}

/**
 * A file range's reads on a worker: 1 MiB each, hashed while still in the core's cache (measured against 128 KiB
 * and 4 MiB: 1 MiB was as fast or faster), few enough to keep two ranges read side by side from seeking often.
 */
const RANGE_READ = 1024 * 1024;

/** The file ended inside a range given to `hashFileRange`: `available` of its bytes were there. */
export class RangeShortError extends Error {
  constructor(readonly available: number) {
    super(`the file ends ${available} bytes into the range`);
    this.name = 'RangeShortError';
  }
}

let shared: HashPool | undefined;

/**
 * The process's pool, for readers not handed one (appliance imports, bundle create, the depot): one thread and an
 * 8 MiB ring. Those callers' main thread is busy with I/O (sockets, writes, fsync) and the one hashing thread takes
 * the hashing off it, so the two cores both work; a second isolate would cost ~10 MiB of RSS for the overlap at
 * blob boundaries only. Started on first use, its thread idle (not holding the process) between reads; replaced if
 * it broke.
 */
export function sharedHashPool(): HashPool {
  if (!shared || shared.broken) shared = new HashPool({ slots: 8, threads: 1 });
  return shared;
}
