/** A progress bar for long work on a terminal; silent when not interactive. */
import type { Writable } from 'node:stream';
import { formatBytes } from './units.js';

export interface Progress {
  setTotal(total: number): void;
  /** Sets the absolute position. */
  update(position: number): void;
  add(n: number): void;
  message(text: string): void;
  done(): void;
}

export function createProgress({ stream, enabled, label, now = () => Date.now() }: { stream: Writable; enabled: boolean; label: string; now?: () => number }): Progress {
  let total = 0;
  let position = 0;
  let lastDraw = 0;
  const started = now();
  let drawn = false;
  const draw = (force = false) => {
    if (!enabled) return;
    const t = now();
    if (!force && t - lastDraw < 100) return;
    lastDraw = t;
    const width = 30;
    const ratio = total > 0 ? Math.min(1, position / total) : 0;
    const filled = Math.round(ratio * width);
    const rate = position / Math.max(0.001, (t - started) / 1000);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    stream.write(`\r${label} [${bar}] ${(ratio * 100).toFixed(0).padStart(3)}% ${formatBytes(position)}/${formatBytes(total)} ${formatBytes(rate)}/s\u001b[K`);
    drawn = true;
  };
  return {
    setTotal(n) {
      total = n;
      draw(true);
    },
    update(p) {
      position = p;
      draw();
    },
    add(n) {
      position += n;
      draw();
    },
    message(text) {
      if (!enabled) return;
      stream.write(`${drawn ? '\n' : ''}\r${text}\u001b[K\n`);
      drawn = false;
    },
    done() {
      if (!enabled) return;
      draw(true);
      stream.write('\n');
    },
  };
}
