import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress } from '../../src/progress.js';

function sink(): Writable & { text: string } {
  const w = new Writable({ write: (chunk: Buffer, _e, done) => ((w.text += chunk.toString()), done()) }) as Writable & { text: string };
  w.text = '';
  return w;
}

describe('progress bar', () => {
  it('draws a bar with percentage, bytes and rate on a terminal', () => {
    let t = 0;
    const out = sink();
    const p = createProgress({ stream: out, enabled: true, label: 'writing', now: () => t });
    p.setTotal(4 * 1024 * 1024);
    t = 1000;
    p.update(1024 * 1024);
    t = 2000;
    p.add(1024 * 1024);
    p.done();
    expect(out.text).toContain('writing [###############---------------]  50% 2.0 MiB/4.0 MiB 1.0 MiB/s');
    expect(out.text.endsWith('\n')).toBe(true);
  });

  it('throttles redraws to ten a second', () => {
    const out = sink();
    const p = createProgress({ stream: out, enabled: true, label: 'x', now: () => 5 });
    p.setTotal(100);
    for (let i = 0; i < 50; i++) p.update(i);
    expect(out.text.split('\r').length - 1).toBe(1);
  });

  it('stays quiet when not on a terminal', () => {
    const out = sink();
    const p = createProgress({ stream: out, enabled: false, label: 'x' });
    p.setTotal(10);
    p.update(5);
    p.message('step');
    p.done();
    expect(out.text).toBe('');
  });
});
