/**
 * A resumable upload: the import starts at once and reads from this session, while the client sends the bundle
 * in pieces (`PATCH` at the offset the session is at). A piece cut off, a dropped connection or a reloaded page just
 * leave the session waiting at its offset for the client to go on; the bytes still flow straight into the
 * verifier and the store, never staged. Each piece is handed over only when the import takes it (backpressure).
 */
import { AirlockError } from '../../src/errors.js';

export class UploadSession {
  offset = 0;
  private slot: { chunk: Buffer; taken: () => void } | undefined;
  /** The piece the import is working on: released when it asks for the next, or when the upload fails. */
  private inFlight: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private failure: Error | undefined;
  private writer = false;

  constructor(
    readonly id: string,
    readonly size: number,
    private readonly idleMs = 10 * 60_000,
  ) {}

  importId = '';

  get complete(): boolean {
    return this.offset >= this.size;
  }

  /** Whether a piece is being received now (a second one at the same time is refused). */
  get busy(): boolean {
    return this.writer;
  }

  /** Feeds one piece (an HTTP body) into the import, chunk by chunk, each once the import has taken the last. */
  async receive(body: AsyncIterable<Buffer>): Promise<void> {
    if (this.writer) throw new AirlockError('USAGE', 'another piece of this upload is being received');
    this.writer = true;
    try {
      for await (const chunk of body) {
        if (this.failure) throw this.failure;
        const room = this.size - this.offset;
        if (chunk.length > room) throw new AirlockError('USAGE', `the upload is ${this.size} bytes; this piece goes past its end`);
        await new Promise<void>((taken) => {
          this.slot = { chunk, taken };
          this.wake?.();
        });
        this.offset += chunk.length;
      }
      if (this.failure) throw this.failure;
    } finally {
      this.writer = false;
      this.wake?.();
    }
  }

  /** Stops the upload (the import failed, or the appliance is stopping). */
  fail(err: Error): void {
    this.failure = err;
    this.slot?.taken();
    this.inFlight?.();
    this.wake?.();
  }

  /** What the import reads: every byte in order; waits for a resumed upload, up to `idleMs` without progress. */
  async *source(): AsyncGenerator<Buffer> {
    while (this.offset < this.size || this.slot) {
      if (this.failure) throw this.failure;
      if (!this.slot) {
        const resumed = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), this.idleMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve(true);
          };
        });
        this.wake = undefined;
        if (!resumed) throw new AirlockError('UPLOAD_INCOMPLETE', `the upload stopped at ${this.offset} of ${this.size} bytes and was not resumed within ${Math.round(this.idleMs / 60_000)} minutes`);
        continue;
      }
      const { chunk, taken } = this.slot;
      this.slot = undefined;
      this.inFlight = taken;
      yield chunk;
      this.inFlight = undefined;
      taken();
    }
  }
}
