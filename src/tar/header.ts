/**
 * POSIX ustar headers, written and checked strictly. Sizes beyond the 8 GiB octal limit use the GNU base-256
 * form that GNU tar, bsdtar and Go's archive/tar read.
 */
import { AirlockError } from '../errors.js';

export const BLOCK = 512;
const OCTAL_SIZE_LIMIT = 0o77777777777;

export interface TarHeader {
  name: string;
  size: number;
  /** '0' regular file, '5' directory, '1' hard link, '2' symlink, … */
  type: string;
  /** The header block as read. */
  raw: Buffer;
}

/** A header for a regular file with fixed, reproducible metadata (mode 0644, uid/gid 0, mtime 0). */
export function encodeHeader(name: string, size: number): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length > 100) throw new RangeError(`tar entry name longer than 100 bytes: ${name}`);
  const h = Buffer.alloc(BLOCK);
  nameBytes.copy(h, 0);
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  if (size > OCTAL_SIZE_LIMIT) writeBase256(h, 124, 12, size);
  else writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, 0);
  h.write('0', 156, 'latin1');
  h.write('ustar\u000000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  const sum = checksum(h);
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return h;
}

/** Zero bytes that round an entry of `size` bytes up to a whole block. */
export function paddingFor(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** Parses and checks a header block: checksum, magic, size encoding. */
export function decodeHeader(h: Buffer, offset: number): TarHeader {
  const corrupt = (why: string) => new AirlockError('BUNDLE_CORRUPT', `tar header at byte ${offset}: ${why}`);
  const stored = parseOctal(h.subarray(148, 156));
  if (stored === undefined) throw corrupt('malformed checksum');
  const copy = Buffer.from(h);
  copy.fill(0x20, 148, 156);
  if (checksum(copy) !== stored) throw corrupt('checksum mismatch (the header is damaged)');
  if (h.toString('latin1', 257, 263) !== 'ustar\u0000' || h.toString('latin1', 263, 265) !== '00') {
    throw corrupt('not a POSIX ustar header');
  }
  const prefix = cString(h.subarray(345, 500));
  const base = cString(h.subarray(0, 100));
  const name = prefix ? `${prefix}/${base}` : base;
  const sizeField = h.subarray(124, 136);
  const size = (sizeField[0] ?? 0) & 0x80 ? parseBase256(sizeField) : parseOctal(sizeField);
  if (size === undefined || !Number.isSafeInteger(size) || size < 0) throw corrupt('malformed size');
  const type = String.fromCharCode(h[156] ?? 0);
  return { name, size, type: type === '\u0000' ? '0' : type, raw: h };
}

export function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i] ?? 0;
  return sum;
}

function writeOctal(h: Buffer, offset: number, length: number, value: number): void {
  h.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, length, 'latin1');
}

function writeBase256(h: Buffer, offset: number, length: number, value: number): void {
  let v = BigInt(value);
  for (let i = offset + length - 1; i > offset; i--) {
    h[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  h[offset] = 0x80;
}

function parseOctal(field: Buffer): number | undefined {
  const text = trimField(field.toString('latin1'));
  if (!/^[0-7]+$/.test(text)) return undefined;
  return parseInt(text, 8);
}

/** Strips the NUL and space terminators and leading spaces tar writers put around numbers. */
function trimField(text: string): string {
  let end = text.length;
  while (end > 0 && (text[end - 1] === '\u0000' || text[end - 1] === ' ')) end--;
  let start = 0;
  while (start < end && text[start] === ' ') start++;
  return text.slice(start, end);
}

function parseBase256(field: Buffer): number | undefined {
  let v = BigInt((field[0] ?? 0) & 0x7f);
  for (let i = 1; i < field.length; i++) v = (v << 8n) | BigInt(field[i] ?? 0);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(v);
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.toString('utf8', 0, end === -1 ? b.length : end);
}
