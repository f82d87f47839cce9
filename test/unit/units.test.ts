import { describe, expect, it } from 'vitest';
import { formatBytes, parseDuration, parseSize } from '../../src/units.js';

describe('units', () => {
  it('parses durations', () => {
    expect(parseDuration('90d')).toBe(90 * 86400_000);
    expect(parseDuration('12h')).toBe(12 * 3600_000);
    expect(parseDuration('30m')).toBe(30 * 60_000);
    expect(parseDuration('90')).toBeUndefined();
    expect(parseDuration('1.5d')).toBeUndefined();
  });
  it('parses sizes in SI and IEC units', () => {
    expect(parseSize('4GiB')).toBe(4 * 1024 ** 3);
    expect(parseSize('700MB')).toBe(700e6);
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('4 parsecs')).toBeUndefined();
  });
  it('formats bytes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
  });
});
