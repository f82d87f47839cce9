/** API tokens: random secrets shown once, stored only as sha256 hashes, each with a role. */
import { createHash, randomBytes } from 'node:crypto';
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
}

/** Reads `Authorization: Bearer …`; the caller, or undefined. */
export function callerOf(req: Request, state: StateStore): Caller | undefined {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match?.[1]) return undefined;
  return state.tokenByHash(hashToken(match[1]));
}

/** Express middleware: 401 without a valid token, 403 below `role`. */
export function requireRole(state: StateStore, role: Role) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const caller = callerOf(req, state);
    if (!caller) {
      res.status(401).set('www-authenticate', 'Bearer realm="airlock"').json({ error: { code: 'UNAUTHORIZED', message: 'a valid API token is required (Authorization: Bearer …)' } });
      return;
    }
    if (RANK[caller.role] < RANK[role]) {
      res.status(403).json({ error: { code: 'FORBIDDEN', message: `this needs the ${role} role; the token has ${caller.role}` } });
      return;
    }
    res.locals.caller = caller;
    next();
  };
}
