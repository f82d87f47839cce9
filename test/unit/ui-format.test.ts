/** The UI's wording of times and expiries: boundaries of "ago", and the 30-day warning and the error past expiry. */
import { describe, expect, it } from 'vitest';
import { diskLevel, duration, expiry, relative } from '../../src/ui/format.js';

const NOW = new Date('2026-11-30T12:00:00Z');
const DAY = 86400_000;
const at = (ms: number) => new Date(NOW.getTime() + ms).toISOString();

describe('UI wording', () => {
  it('says how long ago, rounding down', () => {
    expect(relative(new Date(NOW.getTime() - 30_000), NOW)).toBe('just now');
    expect(relative(new Date(NOW.getTime() - 50_000), NOW)).toBe('50 seconds ago');
    expect(relative(new Date(NOW.getTime() - 61_000), NOW)).toBe('1 minute ago');
    expect(relative(new Date(NOW.getTime() - 3 * 3600_000 - 59 * 60_000), NOW)).toBe('3 hours ago');
    expect(relative(new Date(NOW.getTime() + 2 * DAY + 5), NOW)).toBe('in 2 days');
    expect(duration(-DAY)).toBe('1 day');
  });

  it('warns from 30 days before an expiry and is an error past it', () => {
    const e = (ms: number) => expiry('the trust root', at(ms), NOW, 'new imports are refused', 'renew it');
    expect(e(31 * DAY)).toMatchObject({ level: 'ok', daysLeft: 31, text: 'the trust root expires in 31 days' });
    expect(e(30 * DAY)).toMatchObject({ level: 'ok', daysLeft: 30 });
    expect(e(30 * DAY - 1)).toMatchObject({ level: 'warn', daysLeft: 29, text: 'the trust root expires in 29 days: renew it' });
    expect(e(3600_000)).toMatchObject({ level: 'warn', text: 'the trust root expires in 1 hour: renew it' });
    expect(e(0)).toMatchObject({ level: 'error' });
    expect(e(-12 * DAY - 3600_000)).toMatchObject({ level: 'error', daysLeft: -13, text: 'the trust root expired 12 days ago: new imports are refused' });
    expect(expiry('the bundle', null, NOW, 'x', 'y')).toEqual({ level: 'ok', daysLeft: null, text: 'the bundle never expires' });
    expect(expiry('the bundle', 'soon', NOW, 'x', 'y').level).toBe('warn');
  });

  it('grades free disk space', () => {
    const GiB = 1024 ** 3;
    expect(diskLevel({ totalBytes: 100 * GiB, freeBytes: 50 * GiB })).toBe('ok');
    expect(diskLevel({ totalBytes: 100 * GiB, freeBytes: 5 * GiB })).toBe('warn');
    expect(diskLevel({ totalBytes: 4 * GiB, freeBytes: 0.9 * GiB })).toBe('warn');
    expect(diskLevel({ totalBytes: 100 * GiB, freeBytes: 1.5 * GiB })).toBe('error');
    expect(diskLevel({ totalBytes: 0, freeBytes: 0 })).toBe('error');
  });
});
