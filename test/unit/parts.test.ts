import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitOutput } from '../../src/bundle/archive-output.js';
import { type PartsIndex, partName, partsIndexProblem } from '../../src/bundle/parts.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('part names', () => {
  it.each([
    [0, 1, 'b.airlock.000'],
    [7, 12, 'b.airlock.007'],
    [999, 1000, 'b.airlock.999'],
    [5, 1001, 'b.airlock.0005'],
    [1000, 1001, 'b.airlock.1000'],
  ])('part %i of %i is %s', (i, count, name) => {
    expect(partName('b.airlock', i, count)).toBe(name);
  });
});

describe('parts index shape', () => {
  const good: PartsIndex = { type: 'airlock-parts', bundle: 'b.airlock', root: 'sha256:x', size: 3, parts: [{ name: 'b.airlock.000', size: 3, sha256: 'a'.repeat(64) }] };
  it.each([
    ['a good index', good, undefined],
    ['another type', { ...good, type: 'x' }, 'not an airlock parts index'],
    ['no parts', { ...good, parts: [] }, 'lists no parts'],
    ['a path in a name', { ...good, parts: [{ ...good.parts[0], name: '../etc/passwd' }] }, 'unsafe name'],
    ['a hidden name', { ...good, parts: [{ ...good.parts[0], name: '.x' }] }, 'unsafe name'],
    ['a name twice', { ...good, size: 6, parts: [good.parts[0], good.parts[0]] }, 'listed twice'],
    ['a bad sha256', { ...good, parts: [{ ...good.parts[0], sha256: 'zz' }] }, 'invalid sha256'],
    ['a negative size', { ...good, parts: [{ ...good.parts[0], size: -1 }] }, 'invalid size'],
    ['sizes that do not add up', { ...good, size: 4 }, 'add up to 3 bytes'],
  ])('%s', (_label, index, problem) => {
    const found = partsIndexProblem(index as PartsIndex);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });
});

describe('split output', () => {
  it('cuts the bytes into parts of the size asked, whatever the chunking, each with its sha256', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-split-'));
    const data = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    const out = splitOutput(join(dir, 'b.airlock'), 3000, data.length);
    for (let off = 0; off < data.length; off += 777) await out.write(data.subarray(off, off + 777));
    const { parts } = await out.finish();
    expect(parts?.map((p) => p.size)).toEqual([3000, 3000, 3000, 1000]);
    expect((await readdir(dir)).sort()).toEqual(['b.airlock.000', 'b.airlock.001', 'b.airlock.002', 'b.airlock.003']);
    for (const [i, p] of (parts ?? []).entries()) {
      const bytes = await readFile(join(dir, p.name));
      expect(bytes.equals(data.subarray(i * 3000, i * 3000 + p.size))).toBe(true);
      expect(p.sha256).toBe(sha(bytes));
    }
  });

  it('leaves nothing behind when aborted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-split-'));
    const out = splitOutput(join(dir, 'b.airlock'), 1000, 5000);
    await out.write(Buffer.alloc(2500));
    await out.abort();
    expect(await readdir(dir)).toEqual([]);
  });
});
