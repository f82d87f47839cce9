import { describe, expect, it } from 'vitest';
import { closest, parseCommandArgs } from '../../bin/args.js';
import { PART_SIZE_RANGE, LIFETIME_RANGE, boundedDuration, boundedSize } from '../../src/units.js';

const options = {
  out: { type: 'string', short: 'o' },
  expires: { type: 'string' },
  key: { type: 'string', multiple: true },
  wait: { type: 'boolean' },
} as const;

describe('flag parsing', () => {
  it('takes --name VALUE, --name=VALUE, -x VALUE, -xVALUE, repeated flags, -- and - as an argument', () => {
    expect(parseCommandArgs(['a', '--out', 'x', '--expires=-5d', '--key', 'k1', '--key=k2', '--wait', '-', '--', '--json'], options)).toEqual({
      values: { out: 'x', expires: '-5d', key: ['k1', 'k2'], wait: true },
      positionals: ['a', '-', '--json'],
    });
    expect(parseCommandArgs(['-o', '-'], options).values).toEqual({ out: '-' });
    expect(parseCommandArgs(['-ofile', '-h', '--json'], options).values).toEqual({ out: 'file', help: true, json: true });
    // A value starting with one dash is a value (a negative duration is then refused by the bounds, in our words).
    expect(parseCommandArgs(['--expires', '-5d'], options).values).toEqual({ expires: '-5d' });
  });

  it.each([
    [['--nmae'], 'unknown option --nmae'],
    [['--exipres', '1d'], 'unknown option --exipres; did you mean --expires?'],
    [['--out'], '--out needs a value'],
    [['--out', '--json'], '--out needs a value, and --json is an option; if the value really starts with "--", write --out=--json'],
    [['--wait=yes'], '--wait takes no value'],
    [['--out', 'a', '--out', 'b'], '--out is given twice'],
    [['-x'], 'unknown option -x (short options here: -o, -h)'],
    [['-out', 'x'], 'did you mean --out?'],
  ])('refuses %j in its own words', (args, message) => {
    let thrown: unknown;
    try {
      parseCommandArgs(args, options);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).name).toBe('UsageError');
    expect((thrown as Error).message).toContain(message);
    expect((thrown as Error).message).not.toMatch(/ambiguous|ERR_PARSE_ARGS|Unknown option/);
  });

  it('suggests near names only', () => {
    expect(closest('bundel', ['keys', 'trust', 'bundle', 'receipt'])).toBe('bundle');
    expect(closest('creat', ['create', 'verify', 'inspect'])).toBe('create');
    expect(closest('ver', ['create', 'verify', 'inspect'])).toBe('verify');
    expect(closest('frobnicate', ['create', 'verify', 'inspect'])).toBeUndefined();
  });
});

describe('bounds', () => {
  it('refuses 0d and 36500000d with the allowed range', () => {
    expect(boundedDuration('30d', '--expires', LIFETIME_RANGE)).toBe(30 * 86400_000);
    expect(boundedDuration('100y', '--expires', LIFETIME_RANGE)).toBe(100 * 31536000_000);
    expect((boundedDuration('0d', '--expires', LIFETIME_RANGE) as Error).message).toBe('--expires "0d" is out of range: give a duration from 1m to 100y, like 30d');
    expect((boundedDuration('36500000d', '--expires', LIFETIME_RANGE) as Error).message).toContain('out of range: give a duration from 1m to 100y');
    expect((boundedDuration('-5d', '--expires', LIFETIME_RANGE) as Error).message).toContain('"-5d" is not a duration');
  });

  it('bounds sizes', () => {
    expect(boundedSize('4GiB', '--split-size', PART_SIZE_RANGE)).toBe(4 * 1024 ** 3);
    expect((boundedSize('512', '--split-size', PART_SIZE_RANGE) as Error).message).toContain('out of range: give a size from 1KiB to 16TiB');
    expect((boundedSize('17TiB', '--split-size', PART_SIZE_RANGE) as Error).message).toContain('out of range');
    expect((boundedSize('12 parsecs', '--split-size', PART_SIZE_RANGE) as Error).message).toContain('is not a size');
  });
});
