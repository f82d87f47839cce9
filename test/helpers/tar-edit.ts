/**
 * Takes a bundle archive apart into raw entries and puts it back together with edits, to forge the malformed
 * archives the reader must reject. Independent of airlock's tar code.
 */
export interface RawEntry {
  name: string;
  type: string;
  body: Buffer;
}

export function splitTar(buf: Buffer): RawEntry[] {
  const entries: RawEntry[] = [];
  let off = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.toString('utf8', 0, 100).replace(/\0.*$/s, '');
    const size = parseInt(h.toString('latin1', 124, 136).replace(/\0.*$/s, '').trim(), 8);
    const type = String.fromCharCode(h[156] ?? 48);
    off += 512;
    entries.push({ name, type, body: Buffer.from(buf.subarray(off, off + size)) });
    off += Math.ceil(size / 512) * 512;
  }
  return entries;
}

export function header(name: string, size: number, type = '0', linkname = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1');
  h.write(type, 156, 'latin1');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

export function joinTar(entries: RawEntry[], { linknames = {} as Record<string, string> } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(header(e.name, e.body.length, e.type, linknames[e.name] ?? ''), e.body, Buffer.alloc((512 - (e.body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
