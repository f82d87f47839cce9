/** Waiting on a writable that said "full". */
import type { EventEmitter } from 'node:events';

/**
 * Resolves once `stream` drains or closes (never rejects: a destroyed stream's error is reported where it is
 * written to or read from), and leaves no listener behind.
 */
export function drainedOrClosed(stream: EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
