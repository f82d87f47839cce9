/**
 * `bundle verify` must exit non-zero for every kind of damage or forgery DESIGN.md lists. Each case is forged
 * from a good bundle and must be rejected with its reason.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { type RangedArchive, readBundle } from '../../src/bundle/reader.js';
import { AirlockError } from '../../src/errors.js';
import { statementVerifier } from '../../keys/statement-verifier.js';
import type { TrustRoot } from '../../keys/trust-root.js';
import { verifyBundleFile } from '../../bundler/verify.js';
import { layoutBundle } from '../helpers/bundle-fixture.js';
import { type RawEntry, joinTar, splitTar } from '../helpers/tar-edit.js';
import { makeTrust } from '../helpers/trust.js';
import { createHash, randomBytes } from 'node:crypto';

let good: Buffer;
let trust: TrustRoot;
let path: string;

/** Byte ranges of the large blobs' bodies (the entries after the metadata whose bodies are not JSON). */
function layerBodyRanges(buf: Buffer): [number, number][] {
  const ranges: [number, number][] = [];
  let off = 0;
  while (off + 512 <= buf.length && !buf.subarray(off, off + 512).every((b) => b === 0)) {
    const size = parseInt(buf.toString('latin1', off + 124, off + 135), 8);
    const body = buf.subarray(off + 512, off + 512 + size);
    if (size > 0 && body[0] !== 0x7b /* '{' */) ranges.push([off + 512, off + 512 + size]);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return ranges;
}

/** The archive in memory, read at offsets as `bundle verify` reads a file (ADR 022). */
function rangedArchive(buf: Buffer): RangedArchive {
  return {
    readAt: async (position, length) => buf.subarray(position, Math.min(buf.length, position + length)),
    hashRange: async (position, length) => {
      if (position + length > buf.length) throw new AirlockError('BUNDLE_TRUNCATED', `the archive ends early, at byte ${buf.length}, inside an entry body`);
      return createHash('sha256').update(buf.subarray(position, position + length)).digest('hex');
    },
  };
}

/**
 * `inlineTail: 0` puts every blob on the hash pool (ADR 019); by default this small bundle is checked in line;
 * `'ranged'` reads it at offsets, each blob hashed where it lies (ADR 022).
 */
async function verifyBuffer(buf: Buffer, t: TrustRoot = trust, now = new Date(), verify = statementVerifier({ trust: t, now }), inlineTail?: number | 'ranged') {
  if (inlineTail === 'ranged') return readBundle({ source: rangedArchive(buf), verifyStatement: verify });
  return readBundle({ source: Readable.from([buf]), verifyStatement: verify, ...(inlineTail !== undefined ? { inlineTail } : {}) });
}

beforeAll(async () => {
  const t = makeTrust();
  trust = t.trust;
  const built = await layoutBundle(t.release, { layerSizes: [600, 300, 200] });
  path = built.path;
  good = await readFile(path);
});

describe('bundle verification rejects damage and forgery', () => {
  it('accepts the untouched bundle, from a file and from memory', async () => {
    const report = await verifyBundleFile({ path, trust });
    expect(report.verified).toBe(true);
    expect(report.images.map((i) => i.ref)).toEqual(['web:1', 'worker:1']);
    const contents = await verifyBuffer(good);
    expect(contents.blobs).toHaveLength(4); // 3 distinct layers + 1 manifest-set tar
    expect((await verifyBuffer(good, trust, new Date(), undefined, 'ranged')).blobs).toEqual(contents.blobs);
  });

  it('rejects any change to any byte of the archive', async () => {
    // The statement check is memoised on its exact text: the same text always gives the same verdict.
    const base = statementVerifier({ trust, now: new Date() });
    const cache = new Map<string, ReturnType<typeof base> | Error>();
    const verify = (text: string) => {
      if (!cache.has(text)) {
        try {
          cache.set(text, base(text));
        } catch (err) {
          cache.set(text, err as Error);
        }
      }
      const v = cache.get(text);
      if (v instanceof Error) throw v;
      return v as ReturnType<typeof base>;
    };
    // Outside layer bodies (whose digests catch anything), try the substitutions a lenient parser would
    // forgive: NUL, space, '0', a one-bit flip; everywhere, a many-bit flip.
    const layerBodies = layerBodyRanges(good);
    const inLayerBody = (i: number) => layerBodies.some(([from, to]) => i >= from && i < to);
    const accepted: string[] = [];
    const buf = Buffer.from(good);
    let tries = 0;
    for (let i = 0; i < buf.length; i++) {
      const original = buf[i] ?? 0;
      const variants = inLayerBody(i) ? [original ^ 0x5a] : [original ^ 0x5a, original ^ 0x01, 0x00, 0x20, 0x30];
      for (const value of variants) {
        if (value === original) continue;
        buf[i] = value;
        tries++;
        try {
          // In turn in line, on the hash pool and read at offsets: each path must refuse every change.
          await verifyBuffer(buf, trust, new Date(), verify, ([0, undefined, 'ranged'] as const)[tries % 3]);
          accepted.push(`${i}:${original}->${value}`);
        } catch {
          // rejected, as it must be
        }
      }
      buf[i] = original;
    }
    expect(buf.equals(good)).toBe(true);
    expect(tries).toBeGreaterThan(good.length);
    expect(accepted, `changes accepted (of ${tries} tried over ${buf.length} bytes)`).toEqual([]);
  }, 600_000);

  it('rejects truncation at any block boundary', async () => {
    for (let end = 0; end < good.length; end += 512) {
      await expect(verifyBuffer(good.subarray(0, end), trust, new Date(), undefined, 0)).rejects.toMatchObject({ code: expect.stringMatching(/BUNDLE_TRUNCATED|BUNDLE_CORRUPT/) });
      await expect(verifyBuffer(good.subarray(0, end))).rejects.toMatchObject({ code: expect.stringMatching(/BUNDLE_TRUNCATED|BUNDLE_CORRUPT/) });
      await expect(verifyBuffer(good.subarray(0, end), trust, new Date(), undefined, 'ranged')).rejects.toMatchObject({ code: expect.stringMatching(/BUNDLE_TRUNCATED|BUNDLE_CORRUPT/) });
    }
    await expect(verifyBuffer(good.subarray(0, good.length - 100))).rejects.toMatchObject({ code: 'BUNDLE_TRUNCATED' });
    await expect(verifyBuffer(good.subarray(0, good.length - 100), trust, new Date(), undefined, 'ranged')).rejects.toMatchObject({ code: 'BUNDLE_TRUNCATED' });
  });

  it('rejects bytes after the end', async () => {
    for (const mode of [undefined, 'ranged'] as const) {
      await expect(verifyBuffer(Buffer.concat([good, Buffer.alloc(512, 1)]), trust, new Date(), undefined, mode)).rejects.toThrow('after the end of the archive');
      await expect(verifyBuffer(Buffer.concat([good, Buffer.alloc(512)]), trust, new Date(), undefined, mode)).rejects.toThrow('after the end of the archive');
    }
  });

  it('bundle verify of a file (read at offsets) refuses a cut inside a blob, bytes after the end and a flipped blob byte', async () => {
    const layer = layerBodyRanges(good)[0] ?? [0, 0];
    const cut = `${path}.cut`;
    await writeFile(cut, good.subarray(0, layer[0] + 100));
    await expect(verifyBundleFile({ path: cut, trust })).rejects.toMatchObject({ code: 'BUNDLE_TRUNCATED' });
    const longer = `${path}.longer`;
    await writeFile(longer, Buffer.concat([good, Buffer.alloc(1024)]));
    await expect(verifyBundleFile({ path: longer, trust })).rejects.toMatchObject({ code: 'BUNDLE_CORRUPT', message: expect.stringContaining('after the end of the archive') });
    const flipped = Buffer.from(good);
    flipped[layer[0] + 1] = (flipped[layer[0] + 1] ?? 0) ^ 0x10;
    const bad = `${path}.flipped`;
    await writeFile(bad, flipped);
    await expect(verifyBundleFile({ path: bad, trust })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  const entries = () => splitTar(good);
  const forge = (edit: (e: RawEntry[]) => RawEntry[], linknames?: Record<string, string>) => joinTar(edit(entries()), linknames ? { linknames } : {});
  const layerIndex = (e: RawEntry[]) => e.length - 1;

  it.each([
    ['an unlisted file', (e: RawEntry[]) => [...e, { name: 'extra.txt', type: '0', body: Buffer.from('hi') }], 'unlisted entry extra.txt'],
    ['an unlisted blob', (e: RawEntry[]) => { const b = randomBytes(100); const d = createHash('sha256').update(b).digest('hex'); return [...e, { name: `blobs/sha256/${d}`, type: '0', body: b }]; }, 'is not listed by the signed root'],
    ['a duplicate entry', (e: RawEntry[]) => [...e, e[layerIndex(e)]!], 'duplicate entry'],
    ['a parent-relative path', (e: RawEntry[]) => [...e.slice(0, 3), { name: 'blobs/../../etc/passwd', type: '0', body: Buffer.from('x') }, ...e.slice(3)], 'absolute or parent-relative path'],
    ['an absolute path', (e: RawEntry[]) => [...e.slice(0, 3), { name: '/etc/passwd', type: '0', body: Buffer.from('x') }, ...e.slice(3)], 'absolute or parent-relative path'],
    ['a symlink', (e: RawEntry[]) => [...e.slice(0, 3), { name: 'blobs/sha256/link', type: '2', body: Buffer.alloc(0) }, ...e.slice(3)], 'is a symbolic link'],
    ['a hard link', (e: RawEntry[]) => [...e.slice(0, 3), { name: 'blobs/sha256/link', type: '1', body: Buffer.alloc(0) }, ...e.slice(3)], 'is a hard link'],
    ['a size that disagrees with its descriptor', (e: RawEntry[]) => e.map((x, i) => (i === layerIndex(e) ? { ...x, body: x.body.subarray(1) } : x)), 'the signed root says'],
    ['a missing blob', (e: RawEntry[]) => e.slice(0, -1), 'lacks 1 blob'],
    ['a large blob before the metadata', (e: RawEntry[]) => [...e.slice(0, 3), e[layerIndex(e)]!, ...e.slice(3, -1)], 'missing or out of order'],
    ['entries out of order', (e: RawEntry[]) => [e[1]!, e[0]!, ...e.slice(2)], 'expected entry oci-layout'],
    ['a directory entry', (e: RawEntry[]) => [...e.slice(0, 3), { name: 'blobs/', type: '5', body: Buffer.alloc(0) }, ...e.slice(3)], 'not a regular file'],
  ])('rejects %s', async (_what, edit, message) => {
    await expect(verifyBuffer(forge(edit))).rejects.toThrow(message);
    await expect(verifyBuffer(forge(edit), trust, new Date(), undefined, 0)).rejects.toThrow(message);
  });

  it('rejects a bundle signed by a key the trust root does not know', async () => {
    const other = makeTrust();
    await expect(verifyBuffer(good, other.trust)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('rejects a bundle below the release threshold', async () => {
    const two = makeTrust({ releaseKeys: 2, releaseThreshold: 2 });
    const oneSigner = await layoutBundle([two.release[0]!]);
    await expect(verifyBundleFile({ path: oneSigner.path, trust: two.trust })).rejects.toMatchObject({ code: 'THRESHOLD_NOT_MET' });
    const both = await layoutBundle(two.release);
    expect((await verifyBundleFile({ path: both.path, trust: two.trust })).signers).toHaveLength(2);
  });

  it('rejects an expired bundle', async () => {
    const t = makeTrust();
    const built = await layoutBundle(t.release, { expires: '1d' });
    expect((await verifyBundleFile({ path: built.path, trust: t.trust })).verified).toBe(true);
    await expect(verifyBundleFile({ path: built.path, trust: t.trust, now: new Date(Date.now() + 2 * 86400_000) })).rejects.toMatchObject({ code: 'EXPIRED' });
  });
});
