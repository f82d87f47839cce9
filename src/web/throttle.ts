/**
 * Login throttling: after 5 failed logins for one account from one address within 15 minutes, each further
 * attempt must wait — 30 s, doubling with every failure, at most 15 minutes. A success clears the record. In
 * memory: a restart forgets it, which an attacker cannot cause from outside.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; first: number; until: number }>();

  constructor(
    private readonly free = 5,
    private readonly windowMs = 15 * 60_000,
  ) {}

  /** Milliseconds to wait before this key may try again (0 = now). */
  wait(key: string, now: number): number {
    const f = this.failures.get(key);
    if (!f) return 0;
    if (now - f.first > this.windowMs && now >= f.until) {
      this.failures.delete(key);
      return 0;
    }
    return Math.max(0, f.until - now);
  }

  fail(key: string, now: number): void {
    const f = this.failures.get(key) ?? { count: 0, first: now, until: 0 };
    f.count++;
    if (f.count >= this.free) f.until = now + Math.min(15 * 60_000, 30_000 * 2 ** (f.count - this.free));
    this.failures.set(key, f);
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }
}
