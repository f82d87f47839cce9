import { type Hash, createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AirlockError } from './errors.js';
import type { Descriptor } from './descriptor.js';

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * A pass-through stream that hashes what flows through it and fails (before signalling the end) when the byte
 * count or the digest disagrees with the descriptor. Consumers therefore never see a clean end on bad content.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash | undefined;
  private seen = 0;

  /**
   * With `digest: false` only the size is checked: for a destination that verifies the digest itself (a
   * registry must, on the upload's final `?digest=`), so that no byte is hashed twice on the same path.
   */
  constructor(
    private readonly expected: Pick<Descriptor, 'digest' | 'size'>,
    private readonly label: string = expected.digest,
    { digest = true }: { digest?: boolean } = {},
  ) {
    super();
    this.hash = digest ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.expected.size) {
      done(sizeError(this.label, this.expected.size, this.seen, 'more than'));
      return;
    }
    this.hash?.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.seen !== this.expected.size) {
      done(sizeError(this.label, this.expected.size, this.seen, 'only'));
      return;
    }
    if (!this.hash) {
      done();
      return;
    }
    const actual = `sha256:${this.hash.digest('hex')}`;
    if (actual !== this.expected.digest) {
      done(new AirlockError('DIGEST_MISMATCH', `${this.label}: content digest is ${actual}, expected ${this.expected.digest}`));
      return;
    }
    done();
  }
}

function sizeError(label: string, expected: number, seen: number, how: string): AirlockError {
  return new AirlockError('SIZE_MISMATCH', `${label}: expected ${expected} bytes, got ${how} ${seen}`);
}

/** Checks bytes already in memory against a descriptor. */
export function verifyBytes(bytes: Uint8Array, expected: Pick<Descriptor, 'digest' | 'size'>, label = expected.digest): void {
  if (bytes.length !== expected.size) throw sizeError(label, expected.size, bytes.length, 'only');
  const actual = sha256Digest(bytes);
  if (actual !== expected.digest) {
    throw new AirlockError('DIGEST_MISMATCH', `${label}: content digest is ${actual}, expected ${expected.digest}`);
  }
}
