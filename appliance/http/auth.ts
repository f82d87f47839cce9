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

// --- pulls (/v2 and /git) ---------------------------------------------------------------------------------------

/** The realm of the `Basic` challenge pulls answer 401 with. */
export const PULL_REALM = 'airlock';

/**
 * The token a pull presents: the password of HTTP Basic auth (any user name; a token given as the user name with
 * an empty password counts too, as some tools put it there), or a Bearer token. Undefined when neither is there.
 */
export function pullToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer?.[1]) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!basic?.[1]) return undefined;
  const pair = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = pair.indexOf(':');
  if (colon < 0) return undefined;
  const user = pair.slice(0, colon);
  const password = pair.slice(colon + 1);
  return password || user || undefined;
}

/** The caller of a pull: an API token (Basic or Bearer, see `pullToken`), else a web UI session. */
export function pullCallerOf(req: Request, state: StateStore, now: Date = new Date()): Caller | undefined {
  const token = pullToken(req.headers.authorization);
  if (token) return state.tokenByHash(hashToken(token));
  return callerOf(req, state, now);
}

/**
 * Express middleware for /v2 (`kind: 'registry'`) and /git: with `required`, a pull without a valid token is
 * answered 401 with a `Basic` challenge (what podman, skopeo, containerd, kubelet and git answer with a user name
 * and password) and `Docker-Distribution-API-Version: registry/2.0`. Any role may pull. ADR 012.
 */
export function requirePull(state: StateStore, { required, kind }: { required: boolean; kind: 'registry' | 'git' }) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!required || pullCallerOf(req, state)) return next();
    const presented = Boolean(req.headers.authorization);
    const message = presented
      ? 'the credentials are not valid: give an API token of this appliance as the password (any user name)'
      : 'pulls need credentials: an API token of this appliance as the password (any user name), or as a Bearer token';
    res.status(401).set({ 'www-authenticate': `Basic realm="${PULL_REALM}"`, 'docker-distribution-api-version': 'registry/2.0' });
    if (kind === 'git') res.type('text/plain').send(`${message}\n`);
    else res.type('application/json').send(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message }] }));
  };
}
