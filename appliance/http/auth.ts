/**
 * Who is calling: an API token (`Authorization: Bearer …`, random secrets stored only as sha256 hashes) or a web UI
 * session (an HttpOnly, SameSite=Strict cookie, also stored hashed). A session must also show its CSRF token on
 * every state-changing request (`x-csrf-token` header or `_csrf` form field); tokens need none (no ambient
 * credential). Roles: viewer < operator < admin.
 */
import { createHash, randomBytes } from 'node:crypto';
import { parse as parseCookies } from 'cookie';
import type { NextFunction, Request, Response } from 'express';
import type { Role, StateStore } from '../state/store.js';

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function newToken(): string {
  return `alk_${randomBytes(32).toString('base64url')}`;
}

export interface Caller {
  id: string;
  name: string;
  role: Role;
  /** Set for web UI sessions: the token state-changing requests must carry. */
  csrf?: string;
}

export const SESSION_COOKIE = 'airlock_session';

/** A cookie's value (the `cookie` package's parser: malformed pairs and bad percent-encoding never throw). */
export function cookieValue(req: Request, name: string): string | undefined {
  return parseCookies(req.headers.cookie ?? '')[name];
}

/** The caller by API token, else by session cookie; undefined when neither is valid. */
export function callerOf(req: Request, state: StateStore, now: Date = new Date()): Caller | undefined {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (match?.[1]) return state.tokenByHash(hashToken(match[1]));
  const cookie = cookieValue(req, SESSION_COOKIE);
  if (!cookie) return undefined;
  const session = state.accounts.session(hashToken(cookie), now);
  return session ? { id: `user:${session.user.name}`, name: session.user.name, role: session.user.role, csrf: session.csrf } : undefined;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A session caller's state-changing request without its CSRF token is refused. */
export function csrfProblem(req: Request, caller: Caller): string | undefined {
  if (!caller.csrf || SAFE.has(req.method)) return undefined;
  const sent = req.get('x-csrf-token') ?? (req.body as { _csrf?: unknown } | undefined)?._csrf;
  return sent === caller.csrf ? undefined : 'this request lacks the CSRF token of your session (reload the page)';
}

export function hasRole(caller: Caller, role: Role): boolean {
  return RANK[caller.role] >= RANK[role];
}

/** Express middleware: 401 without a valid token, 403 below `role`. */
export function requireRole(state: StateStore, role: Role) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const caller = callerOf(req, state);
    if (!caller) {
      res.status(401).set('www-authenticate', 'Bearer realm="airlock"').json({ error: { code: 'UNAUTHORIZED', message: 'a valid API token (Authorization: Bearer …) or a signed-in session is required' } });
      return;
    }
    if (RANK[caller.role] < RANK[role]) {
      res.status(403).json({ error: { code: 'FORBIDDEN', message: `this needs the ${role} role; ${caller.csrf ? 'your account' : 'the token'} has ${caller.role}` } });
      return;
    }
    const csrf = csrfProblem(req, caller);
    if (csrf) {
      res.status(403).json({ error: { code: 'CSRF', message: csrf } });
      return;
    }
    res.locals.caller = caller;
    next();
  };
}
