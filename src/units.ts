/** Durations (`90d`, `12h`, `30m`, `45s`) and sizes (`4GiB`, `700MB`, `1048576`) as users write them, with bounds. */

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)([smhdwy])$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * (DURATION_UNITS[match[2] ?? ''] ?? 0) * 1000;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3, ti: 1024 ** 4, tib: 1024 ** 4,
};

export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  if (!match) return undefined;
  const unit = SIZE_UNITS[(match[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.floor(Number(match[1]) * unit);
}

/** An allowed range, written as users write the values (`1m`, `100y`; `1KiB`, `16TiB`), and an example. */
export interface Range {
  min: string;
  max: string;
  example: string;
}

/** The lifetime of a bundle's statement or a trust root. */
export const LIFETIME_RANGE: Range = { min: '1m', max: '100y', example: '30d' };
/** How often the appliance compares the cluster with the bundle. */
export const INTERVAL_RANGE: Range = { min: '1s', max: '7d', example: '60s' };
/** One split part of a bundle. */
export const PART_SIZE_RANGE: Range = { min: '1KiB', max: '16TiB', example: '4GiB' };

/**
 * Milliseconds of a duration within `range`; otherwise an Error whose message names the value, what is wrong with
 * it and the allowed range (`what` is how the value is named, e.g. `--expires` or `expires`).
 */
export function boundedDuration(text: string, what: string, range: Range): number | Error {
  const ms = parseDuration(text);
  const allowed = `from ${range.min} to ${range.max}, like ${range.example}`;
  if (ms === undefined) return new Error(`${what} "${text}" is not a duration: give a whole number and a unit (s, m, h, d, w or y) ${allowed}`);
  if (ms < (parseDuration(range.min) ?? 0) || ms > (parseDuration(range.max) ?? 0)) return new Error(`${what} "${text}" is out of range: give a duration ${allowed}`);
  return ms;
}

/** Bytes of a size within `range`; otherwise an Error as for boundedDuration. */
export function boundedSize(text: string, what: string, range: Range): number | Error {
  const n = parseSize(text);
  const allowed = `from ${range.min} to ${range.max}, like ${range.example}`;
  if (n === undefined) return new Error(`${what} "${text}" is not a size: give a number and a unit (B, KiB, MiB, GiB, TiB or kB, MB, GB, TB) ${allowed}`);
  if (n < (parseSize(range.min) ?? 0) || n > (parseSize(range.max) ?? 0)) return new Error(`${what} "${text}" is out of range: give a size ${allowed}`);
  return n;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${i === 0 ? value : value.toFixed(1)} ${units[i]}`;
}
