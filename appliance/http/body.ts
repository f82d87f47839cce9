/**
 * A request body read by a consumer that may stop early (an import that refuses the bundle after its first bytes),
 * and the answer such an early stop owes the client: sent at once, with `Connection: close`, while the rest of the
 * body is read and thrown away for a short while ("lingering close"), so that the client reads the answer instead
 * of a connection reset, and then the connection is closed.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Response } from 'express';
import { AirlockError } from '../../src/errors.js';

/** How long an answered request's unread body is still read and discarded before the connection is closed. */
export const LINGER_MS = 5_000;

export class RequestBody {
  received = 0;
  private discarding = false;

  constructor(
    private readonly req: IncomingMessage,
    readonly declared: number | null,
  ) {}

  /** Whether the client sent the whole body. */
  get complete(): boolean {
    return this.req.complete;
  }

  /** The body, chunk by chunk, with backpressure; fails clearly when the client goes away mid-body. */
  async *source(): AsyncGenerator<Buffer> {
    const req = this.req;
    const queue: Buffer[] = [];
    let ended = req.complete && req.readableEnded;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const onData = (chunk: Buffer) => {
      queue.push(chunk);
      req.pause();
      wake?.();
    };
    const onEnd = () => {
      ended = true;
      wake?.();
    };
    const onGone = () => {
      if (!req.complete) failure ??= new Error('the connection closed');
      wake?.();
    };
    const onError = (err: Error) => {
      failure ??= err;
      wake?.();
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onGone);
    req.socket.once('close', onGone);
    try {
      for (;;) {
        const chunk = queue.shift();
        if (chunk) {
          this.received += chunk.length;
          yield chunk;
          continue;
        }
        if (failure) throw this.cutOff(failure);
        if (ended) break;
        if (this.discarding) return;
        req.resume();
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onGone);
      req.socket.off('close', onGone);
      if (!this.discarding && !req.complete) req.pause();
    }
    if (!req.complete || (this.declared !== null && this.received < this.declared)) throw this.cutOff();
  }

  /** Reads what is left and throws it away (the consumer stopped early). */
  discard(): void {
    if (this.discarding) return;
    this.discarding = true;
    this.req.removeAllListeners('data');
    this.req.on('data', () => undefined);
    this.req.resume();
  }

  private cutOff(cause?: Error): AirlockError {
    return new AirlockError('UPLOAD_INCOMPLETE', `the upload was cut off after ${this.received}${this.declared !== null ? ` of ${this.declared}` : ''} bytes`, cause ? { cause } : undefined);
  }
}

/**
 * Answers a request whose body was not (fully) read: the answer goes out at once with `Connection: close`; the rest
 * of the body is drained for up to `lingerMs`, then the connection is closed. Closing at once would reset the
 * connection while the client is still sending, and a reset can make it lose the answer.
 */
export function answerEarly(res: Response, status: number, body: unknown, discard: () => void, lingerMs = LINGER_MS): void {
  const req = res.req;
  discard();
  if (res.headersSent) return;
  const socket = req.socket as Socket & { destroySoon?: () => void };
  if (!req.complete) {
    // Node closes a `Connection: close` response's socket as soon as the answer is written (destroySoon). Half-close
    // instead (the answer and a FIN), keep reading, and close once the client has stopped or the linger time is up.
    socket.destroySoon = () => {
      const close = () => (socket.writableFinished ? socket.destroy() : socket.once('finish', () => socket.destroy()));
      socket.end();
      const timer = setTimeout(() => socket.destroy(), lingerMs);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
      if (req.complete) close();
      else req.once('end', close);
    };
  }
  res.set('connection', 'close');
  res.status(status).json(body);
}
