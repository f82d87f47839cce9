import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BLOCK, decodeHeader, encodeHeader, paddingFor } from '../../src/tar/header.js';
import { TarReader } from '../../src/tar/reader.js';

function archive(entries: [string, Buffer][], trailer = Buffer.alloc(2 * BLOCK)): Buffer {
  const parts: Buffer[] = [];
  for (const [name, body] of entries) parts.push(encodeHeader(name, body.length), body, Buffer.alloc(paddingFor(body.length)));
  parts.push(trailer);
  return Buffer.concat(parts);
}

/** Splits a buffer into chunks of `size` to exercise headers and bodies straddling chunk boundaries. */
function chunked(buf: Buffer, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
  return Readable.from(chunks);
}

async function readAll(source: Readable): Promise<[string, string][]> {
  const reader = new TarReader(source);
  const out: [string, string][] = [];
  for (let h = await reader.next(); h; h = await reader.next()) out.push([h.name, (await reader.readBody(h, 1 << 20)).toString()]);
  return out;
}

describe('tar', () => {
  it('round-trips entries through GNU tar-compatible headers at any chunking', async () => {
    const tar = archive([['a', Buffer.from('hello')], ['dir/b', Buffer.alloc(0)], ['c', Buffer.alloc(1000, 'x')]]);
    for (const size of [1, 7, 512, 513, 100_000]) {
      expect(await readAll(chunked(tar, size))).toEqual([['a', 'hello'], ['dir/b', ''], ['c', 'x'.repeat(1000)]]);
    }
  });

  it('encodes sizes past 8 GiB in base-256', () => {
    const size = 9 * 1024 ** 3 + 5;
    expect(decodeHeader(encodeHeader('big', size), 0).size).toBe(size);
  });

  it('detects a damaged header through its checksum', async () => {
    const tar = archive([['a', Buffer.from('hello')]]);
    tar[10] = 0x41;
    await expect(readAll(chunked(tar, 512))).rejects.toThrow('checksum mismatch');
  });

  it('detects non-zero padding', async () => {
    const tar = archive([['a', Buffer.from('hello')]]);
    tar[BLOCK + 100] = 1;
    await expect(readAll(chunked(tar, 512))).rejects.toThrow('non-zero padding');
  });

  it('detects truncation inside a body and before the end marker', async () => {
    const tar = archive([['a', Buffer.alloc(2000, 'y')]]);
    await expect(readAll(chunked(tar.subarray(0, 1000), 512))).rejects.toThrow('ends early');
    await expect(readAll(chunked(tar.subarray(0, tar.length - BLOCK), 512))).rejects.toThrow('ends early');
  });

  it('detects bytes after the end of the archive', async () => {
    const tar = Buffer.concat([archive([['a', Buffer.from('x')]]), Buffer.from('trailing')]);
    await expect(readAll(chunked(tar, 4096))).rejects.toThrow('after the end of the archive');
  });
});
