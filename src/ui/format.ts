/** Pure wording for the UI: how long ago, how long until, and how urgent an expiry is. No clock of its own. */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** An expiry closer than this is a warning. */
export const EXPIRY_WARNING_DAYS = 30;

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** A duration as people say it: "45 seconds", "3 minutes", "5 hours", "12 days" (rounded down). */
export function duration(ms: number): string {
  const a = Math.abs(ms);
  if (a < MINUTE) return plural(Math.floor(a / 1000), 'second');
  if (a < HOUR) return plural(Math.floor(a / MINUTE), 'minute');
  if (a < DAY) return plural(Math.floor(a / HOUR), 'hour');
  return plural(Math.floor(a / DAY), 'day');
}

/** "just now", "3 hours ago", "in 12 days". */
export function relative(at: Date, now: Date): string {
  const ms = at.getTime() - now.getTime();
  if (Math.abs(ms) < 45_000) return 'just now';
  return ms < 0 ? `${duration(ms)} ago` : `in ${duration(ms)}`;
}

export type Level = 'ok' | 'warn' | 'error';

export interface Expiry {
  level: Level;
  /** Whole days left (negative past expiry); null when it never expires. */
  daysLeft: number | null;
  /** One sentence, starting with `what`. */
  text: string;
}

/**
 * How `what` ("the trust root") stands against its expiry: fine, a warning from 30 days before, an error past it.
 * `consequence` is said once it has expired ("new imports are refused").
 */
export function expiry(what: string, expires: string | null | undefined, now: Date, consequence: string, remedy: string): Expiry {
  if (!expires) return { level: 'ok', daysLeft: null, text: `${what} never expires` };
  const at = new Date(expires);
  if (Number.isNaN(at.getTime())) return { level: 'warn', daysLeft: null, text: `${what} has an expiry that cannot be read (${expires})` };
  const ms = at.getTime() - now.getTime();
  const daysLeft = Math.floor(ms / DAY);
  if (ms <= 0) return { level: 'error', daysLeft, text: `${what} expired ${duration(ms)} ago: ${consequence}` };
  if (ms < EXPIRY_WARNING_DAYS * DAY) return { level: 'warn', daysLeft, text: `${what} expires in ${duration(ms)}: ${remedy}` };
  return { level: 'ok', daysLeft, text: `${what} expires in ${duration(ms)}` };
}

export interface DiskUsage {
  totalBytes: number;
  freeBytes: number;
}

/** Free space is a warning under 10% or 1 GiB, an error under 2% or 256 MiB. */
export function diskLevel({ totalBytes, freeBytes }: DiskUsage): Level {
  const share = totalBytes > 0 ? freeBytes / totalBytes : 0;
  if (share < 0.02 || freeBytes < 256 * 1024 * 1024) return 'error';
  if (share < 0.1 || freeBytes < 1024 * 1024 * 1024) return 'warn';
  return 'ok';
}

/** Upper-case first letter, for a sentence that starts with a lower-case subject. */
export function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
