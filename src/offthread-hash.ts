/**
 * SHA-256 on a worker thread, for a second hash over bytes the main thread is already busy with (split parts are
 * hashed while the bundle's own blobs are hashed and written). Chunks are copied into 1 MiB batches, each handed
 * to the worker whole (a message per small chunk costs more than the hashing) and handed back with the ack, so
 * that a long stream allocates nothing per batch (fresh 1 MiB buffers per batch cost a garbage collection every
 * ~64 MiB, on the very cores the two hashes need). At most `maxPendingBytes` are in flight, so memory stays bounded
 * when the worker falls behind.
 */
import { Worker } from 'node:worker_threads';

// Inline (eval) so it runs the same from TypeScript sources under test and from dist/.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
let hash = createHash('sha256');
parentPort.on('message', (m) => {
  if (m.data) {
    hash.update(m.data);
    parentPort.postMessage({ ack: m.data }, [m.data.buffer]);
  } else {
    parentPort.postMessage({ digest: hash.digest('hex') });
    hash = createHash('sha256');
  }
});
`;

const BATCH = 1024 * 1024;

export class OffThreadHash {
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true });
  private pending = 0;
  private waiters: (() => void)[] = [];
  private digests: ((hex: string) => void)[] = [];
  private failure: Error | undefined;

  constructor(private readonly maxPendingBytes = 8 * 1024 * 1024) {
    this.worker.on('message', (m: { ack?: Uint8Array<ArrayBuffer>; digest?: string }) => {
      if (m.ack !== undefined) {
        this.pending -= m.ack.byteLength;
        if (m.ack.byteLength === BATCH) this.spare.push(m.ack);
        if (this.pending <= this.maxPendingBytes) this.waiters.splice(0).forEach((w) => w());
      } else if (m.digest !== undefined) {
        this.digests.shift()?.(m.digest);
      }
      this.holdProcess();
    });
    this.worker.on('error', (err) => {
      this.failure = err;
      this.waiters.splice(0).forEach((w) => w());
    });
    this.worker.unref();
  }

  /** The worker keeps the process alive only while work is in flight (an idle, forgotten hasher never does). */
  private holdProcess(): void {
    if (this.pending > 0 || this.digests.length > 0) this.worker.ref();
    else this.worker.unref();
  }

  private readonly spare: Uint8Array<ArrayBuffer>[] = [];
  private batch = new Uint8Array(BATCH);
  private filled = 0;

  /** Copies `chunk` into the current batch; hands full batches over; waits when too many bytes are queued. */
  async update(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(BATCH - this.filled, chunk.length - offset);
      this.batch.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === BATCH) this.flush();
    }
    while (this.pending > this.maxPendingBytes && !this.failure) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure) throw this.failure;
  }

  private flush(): void {
    if (!this.filled) return;
    const whole = this.filled === BATCH;
    const data = whole ? this.batch : this.batch.slice(0, this.filled);
    this.pending += data.length;
    this.worker.postMessage({ data }, [data.buffer]);
    if (whole) this.batch = this.spare.pop() ?? new Uint8Array(BATCH);
    this.filled = 0;
    this.holdProcess();
  }

  /** The hex digest of everything updated since the last digest; the hash starts afresh. */
  digest(): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    this.flush();
    return new Promise((resolve) => {
      this.digests.push(resolve);
      this.worker.postMessage({});
      this.holdProcess();
    });
  }

  close(): void {
    void this.worker.terminate();
  }
}
