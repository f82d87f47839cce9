/**
 * Blobs are hashed on a pool of threads while the read goes on (ADR 019); what the reader reports and commits must
 * still be exactly what a one-blob-at-a-time reader would (ADR 001): the first bad blob of the archive is the one
 * named, even when a later blob's hash finishes first or the archive breaks off after it, and nothing from the bad
 * blob on is committed.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Descriptor } from '../../src/descriptor.js';
import { readBundle } from '../../src/bundle/reader.js';
import { writeBundle } from '../../src/bundle/writer.js';
import { HashPool } from '../../src/hash-pool.js';
import type { BlobWriter } from '../../src/storage.js';
import { statementVerifier } from '../../keys/statement-verifier.js';
import type { TrustRoot } from '../../keys/trust-root.js';
import { verifyBundleFile } from '../../bundler/verify.js';
import { layoutBundle } from '../helpers/bundle-fixture.js';
import { type RawEntry, joinTar, splitTar } from '../helpers/tar-edit.js';
import { makeTrust } from '../helpers/trust.js';

let good: Buffer;
let trust: TrustRoot;
let dir: string;
/** The large blobs' entries, in archive order, and the index of the largest (its hash takes longest). */
let layers: string[];
let big: number;

beforeAll(async () => {
  const t = makeTrust();
  trust = t.trust;
  const built = await layoutBundle(t.release, { layerSizes: [4096, 6 * 1024 * 1024 + 1, 64 * 1024] });
  dir = built.dir;
  good = await readFile(built.path);
  const large = splitTar(good).filter((e) => e.name.startsWith('blobs/') && e.body[0] !== 0x7b); // not JSON metadata
  layers = large.map((e) => e.name);
  big = large.findIndex((e) => e.body.length > 6 * 1024 * 1024);
});

const flip = (entries: RawEntry[], name: string | undefined) =>
  entries.map((e) => (e.name === name ? { ...e, body: Buffer.concat([e.body.subarray(0, 10), Buffer.from([e.body[10]! ^ 1]), e.body.subarray(11)]) } : e));

interface Log {
  committed: string[];
  aborted: string[];
  onBlob: string[];
}

/** Every blob on the pool (the bundle is smaller than the tail the reader checks in line by default). */
async function read(buf: Buffer, log: Log = { committed: [], aborted: [], onBlob: [] }, hashPool?: HashPool, inlineTail = 0) {
  const contents = await readBundle({
    source: Readable.from([buf]),
    verifyStatement: statementVerifier({ trust, now: new Date() }),
    ...(hashPool ? { hashPool } : {}),
    inlineTail,
    onBlob: (d: Descriptor) => log.onBlob.push(d.digest),
    blobSink: {
      ingest: async (desc): Promise<BlobWriter> => ({
        write: async () => undefined,
        commit: async () => void log.committed.push(desc.digest),
        abort: async () => void log.aborted.push(desc.digest),
      }),
    },
  });
  return contents;
}

const digestOf = (name: string | undefined) => `sha256:${name?.split('/').pop() ?? ''}`;

describe('blobs verified on the pool settle in archive order', () => {
  it('has several large blobs to work with', () => {
    expect(layers.length).toBeGreaterThanOrEqual(4);
    expect(big).toBeGreaterThanOrEqual(0);
    expect(big).toBeLessThan(layers.length - 1);
  });

  it('commits and reports every good blob in archive order', async () => {
    const log: Log = { committed: [], aborted: [], onBlob: [] };
    const contents = await read(good, log);
    const order = contents.blobs.map((d) => d.digest);
    expect(log.committed).toEqual(order);
    expect(log.onBlob).toEqual(order);
    expect(log.aborted).toEqual([]);
    expect(order).toEqual(layers.map(digestOf));
  });

  it('names the first bad blob when a later one is bad too (and hashed sooner), committing none from it on', async () => {
    const forged = joinTar(flip(flip(splitTar(good), layers[big]), layers[layers.length - 1]));
    const log: Log = { committed: [], aborted: [], onBlob: [] };
    await expect(read(forged, log)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining(layers[big] ?? '?') });
    expect(log.committed).toEqual(layers.slice(0, big).map(digestOf));
    expect(log.onBlob).toEqual(log.committed);
    expect([...log.aborted].sort()).toEqual(layers.slice(big).map(digestOf).sort());
  });

  it('names a bad blob before a truncation further on, not the truncation; blobs before it are committed', async () => {
    const forged = joinTar(flip(splitTar(good), layers[big]));
    const log: Log = { committed: [], aborted: [], onBlob: [] };
    await expect(read(forged.subarray(0, forged.length - 2048), log)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining(layers[big] ?? '?') });
    expect(log.committed).toEqual(layers.slice(0, big).map(digestOf));
    expect([...log.aborted].sort()).toEqual(layers.slice(big).map(digestOf).sort()); // the cut one at once, the bad one when settled
  });

  it('reports the truncation when every blob before it is good', async () => {
    await expect(read(good.subarray(0, good.length - 2048))).rejects.toMatchObject({ code: 'BUNDLE_TRUNCATED' });
  });

  it('gives the same verdicts through a tiny ring (slots reused within one blob) and from a file read into the ring', async () => {
    const pool = new HashPool({ slotSize: 8 * 1024, slots: 5 });
    try {
      expect((await read(good, undefined, pool)).blobs.length).toBeGreaterThanOrEqual(layers.length);
      const forged = joinTar(flip(flip(splitTar(good), layers[big]), layers[layers.length - 1]));
      await expect(read(forged, undefined, pool)).rejects.toThrow(layers[big]);
    } finally {
      pool.close();
    }
    const path = join(dir, 'forged.airlock');
    await writeFile(path, joinTar(flip(flip(splitTar(good), layers[big]), layers[layers.length - 1])));
    await expect(verifyBundleFile({ path, trust })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining(layers[big] ?? '?') });
  });

  it('bundle create names the first blob whose source does not match its digest, and leaves no archive', async () => {
    const { root, metadata } = await read(good);
    const entries = flip(flip(splitTar(good), layers[big]), layers[layers.length - 1]);
    const bodies = new Map(entries.map((e) => [digestOf(e.name), e.body]));
    const signature = entries.find((e) => e.name === 'airlock/signature.json')?.body.toString('utf8') ?? '';
    const out = join(dir, 'written', 'again.airlock');
    await mkdir(join(dir, 'written'));
    await expect(
      writeBundle({
        out,
        root,
        metadata: (d) => metadata.get(d),
        signature,
        openBlob: async (desc) => Readable.from([bodies.get(desc.digest) ?? Buffer.alloc(0)]),
      }),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining(digestOf(layers[big])) });
    expect(await readdir(join(dir, 'written'))).toEqual([]);
    // The same inputs, untouched, write the same archive byte for byte.
    const good2 = new Map(splitTar(good).map((e) => [digestOf(e.name), e.body]));
    await writeBundle({ out, root, metadata: (d) => metadata.get(d), signature, openBlob: async (desc) => Readable.from([good2.get(desc.digest) ?? Buffer.alloc(0)]) });
    expect((await readFile(out)).equals(good)).toBe(true);
  });

  it('checks the tail in line by default, with the same verdicts and commits', async () => {
    const log: Log = { committed: [], aborted: [], onBlob: [] };
    const forged = joinTar(flip(flip(splitTar(good), layers[big]), layers[layers.length - 1]));
    await expect(read(forged, log, undefined, 8 * 1024 * 1024)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining(layers[big] ?? '?') });
    expect(log.committed).toEqual(layers.slice(0, big).map(digestOf));
    // With a tail of 1 MiB, the large blob goes to the pool and the small ones after it are checked in line.
    const mixed: Log = { committed: [], aborted: [], onBlob: [] };
    await expect(read(forged, mixed, undefined, 1024 * 1024)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining(layers[big] ?? '?') });
    expect(mixed.committed).toEqual(layers.slice(0, big).map(digestOf));
    expect((await read(good, undefined, undefined, 1024 * 1024)).blobs.map((d) => d.digest)).toEqual(layers.map(digestOf));
  });
});
