/**
 * Web sign-in sessions, shared by the appliance's UI and the fleet page: a random secret in an HttpOnly,
 * SameSite=Strict cookie (Secure under HTTPS), stored only as its sha256; a CSRF token per session that every
 * state-changing request must show (`x-csrf-token` header or `_csrf` form field). Roles: viewer < operator < admin.
 */
import { createHash, randomBytes } from 'node:crypto';
import { parse as parseCookies } from 'cookie';
import type { Request, Response } from 'express';
import type { AccountStore } from './accounts.js';

export type Role = 'viewer' | 'operator' | 'admin';

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export function roleAtLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

export const SESSION_COOKIE = 'airlock_session';
export const SESSION_HOURS = 12;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A cookie's value (the `cookie` package's parser: malformed pairs and bad percent-encoding never throw). */
export function cookieValue(req: Request, name: string): string | undefined {
  return parseCookies(req.headers.cookie ?? '')[name];
}

export interface SessionUser {
  name: string;
  role: Role;
  csrf: string;
}

/** The signed-in user of the request's session cookie, or undefined. */
export function sessionOf(req: Request, accounts: AccountStore, now: Date): SessionUser | undefined {
  const cookie = cookieValue(req, SESSION_COOKIE);
  if (!cookie) return undefined;
  const session = accounts.session(hashToken(cookie), now);
  return session ? { name: session.user.name, role: session.user.role, csrf: session.csrf } : undefined;
}

/** Starts a session for `name` and sets its cookie. */
export function startSession(accounts: AccountStore, res: Response, name: string, now: Date, secure: boolean): void {
  const secret = randomBytes(32).toString('base64url');
  accounts.createSession(hashToken(secret), name, randomBytes(24).toString('base64url'), now, new Date(now.getTime() + SESSION_HOURS * 3600_000));
  res.cookie(SESSION_COOKIE, secret, { httpOnly: true, sameSite: 'strict', secure, path: '/', maxAge: SESSION_HOURS * 3600_000 });
}

/** Ends the request's session and clears its cookie. */
export function endSession(req: Request, res: Response, accounts: AccountStore): void {
  const cookie = cookieValue(req, SESSION_COOKIE);
  if (cookie) accounts.deleteSession(hashToken(cookie));
  res.clearCookie(SESSION_COOKIE, { path: '/' });
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A state-changing request of a session (whose token is `csrf`) that lacks that token is refused. */
export function csrfProblemFor(req: Request, csrf: string | undefined): string | undefined {
  if (!csrf || SAFE.has(req.method)) return undefined;
  const sent = req.get('x-csrf-token') ?? (req.body as { _csrf?: unknown } | undefined)?._csrf;
  return sent === csrf ? undefined : 'this request lacks the CSRF token of your session (reload the page)';
}
