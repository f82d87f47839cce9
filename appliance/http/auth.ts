/**
 * Who is calling: an API token (`Authorization: Bearer …`, random secrets stored only as sha256 hashes) or a web UI
 * session (an HttpOnly, SameSite=Strict cookie, also stored hashed). A session must also show its CSRF token on
 * every state-changing request (`x-csrf-token` header or `_csrf` form field); tokens need none (no ambient
 * credential). Roles: viewer < operator < admin.
 */
import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { SESSION_COOKIE, cookieValue, csrfProblemFor, hashToken, roleAtLeast, sessionOf } from '../../src/web/session.js';
import type { Role, StateStore } from '../state/store.js';

export { SESSION_COOKIE, cookieValue, hashToken };

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

/** The caller by API token, else by session cookie; undefined when neither is valid. */
export function callerOf(req: Request, state: StateStore, now: Date = new Date()): Caller | undefined {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (match?.[1]) return state.tokenByHash(hashToken(match[1]));
  const session = sessionOf(req, state.accounts, now);
  return session ? { id: `user:${session.name}`, name: session.name, role: session.role, csrf: session.csrf } : undefined;
}

/** A session caller's state-changing request without its CSRF token is refused. */
export function csrfProblem(req: Request, caller: Caller): string | undefined {
  return csrfProblemFor(req, caller.csrf);
}

export function hasRole(caller: Caller, role: Role): boolean {
  return roleAtLeast(caller.role, role);
}

/** Express middleware: 401 without a valid token, 403 below `role`. */
export function requireRole(state: StateStore, role: Role) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const caller = callerOf(req, state);
    if (!caller) {
      res.status(401).set('www-authenticate', 'Bearer realm="airlock"').json({ error: { code: 'UNAUTHORIZED', message: 'a valid API token (Authorization: Bearer …) or a signed-in session is required' } });
      return;
    }
    if (!roleAtLeast(caller.role, role)) {
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
