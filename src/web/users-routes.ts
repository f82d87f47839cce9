/**
 * The Users page's routes, shared by the appliance's UI and the fleet page (both mount them under /ui): the list
 * for every signed-in user; adding, changing and deleting accounts for an admin only, with the session's CSRF
 * token. Each UI brings its own sign-in check, page frame and (where it keeps one) audit log.
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { isAirlockError } from '../errors.js';
import { type Html, html } from '../ui/html.js';
import type { AccountStore } from './accounts.js';
import { hashPassword, passwordProblem } from './passwords.js';
import { type Role, csrfProblemFor, roleAtLeast } from './session.js';
import { usersPage } from './users-page.js';

/** Who is signed in: a session's user (with its CSRF token) or, on the appliance, an API token (none). */
export interface WebUser {
  name: string;
  role: Role;
  csrf?: string;
}

export interface UsersRoutesOptions {
  accounts: AccountStore;
  now: () => Date;
  /** The UI's own middleware: lets a signed-in user through (and makes them `userOf`), else sends to sign-in. */
  signedIn: RequestHandler;
  userOf: (res: Response) => WebUser;
  /** Sends a page in the UI's frame. */
  send: (res: Response, status: number, title: string, body: Html, user: WebUser, current: string) => void;
  /** Records a change, where the UI keeps an audit log. */
  audit?: (actor: string, action: string, detail: Record<string, unknown>) => void;
}

const ROLES: readonly string[] = ['viewer', 'operator', 'admin'];
const NAME = /^[a-z0-9._-]{1,64}$/;
export const USERS_PATH = '/ui/users';

/** Adds GET /users, POST /users and POST /users/:name/delete to a router mounted at /ui. */
export function addUsersRoutes(router: Router, { accounts, now, signedIn, userOf, send, audit }: UsersRoutesOptions): void {
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  const show = (res: Response, status: number, user: WebUser, message?: string) =>
    send(res, status, 'Users', usersPage({ users: accounts.users(), now: now(), isAdmin: roleAtLeast(user.role, 'admin'), csrf: user.csrf ?? '', ...(message ? { message } : {}) }), user, USERS_PATH);

  // A change needs the session's CSRF token, then the admin role.
  const admin = (req: Request, res: Response, next: NextFunction) => {
    const user = userOf(res);
    const refused = csrfProblemFor(req, user.csrf) ?? (roleAtLeast(user.role, 'admin') ? undefined : `This needs the admin role; your account has ${user.role}.`);
    if (refused) return send(res, 403, 'Refused', html`<p class="card error">${refused}</p>`, user, '');
    next();
  };
  // The last admin account can be neither demoted nor deleted (AccountStore refuses with USAGE): shown on the page.
  const refusal = (res: Response, user: WebUser, err: unknown, next: NextFunction) => {
    if (isAirlockError(err) && err.code === 'USAGE') return show(res, 400, user, err.message);
    next(err);
  };

  router.get('/users', signedIn, (_req, res) => show(res, 200, userOf(res)));

  router.post('/users', form, signedIn, admin, (req, res, next) => {
    const user = userOf(res);
    const body = req.body as { name?: unknown; role?: unknown; password?: unknown };
    const name = String(body.name ?? '');
    const role = String(body.role ?? '');
    const password = String(body.password ?? '');
    const problem = !NAME.test(name) ? 'a name is 1 to 64 of a-z 0-9 . _ -' : !ROLES.includes(role) ? 'no such role' : passwordProblem(password);
    if (problem) return show(res, 400, user, problem);
    hashPassword(password)
      .then((hash) => {
        accounts.putUser(name, role as Role, hash, now());
        audit?.(user.name, 'account.saved', { name, role });
        show(res, 200, user, `Saved ${name} (${role}).`);
      })
      .catch((err: unknown) => refusal(res, user, err, next));
  });

  router.post('/users/:name/delete', form, signedIn, admin, (req, res, next) => {
    const user = userOf(res);
    const name = req.params.name ?? '';
    if (name !== 'admin') {
      try {
        accounts.deleteUser(name);
      } catch (err) {
        return refusal(res, user, err, next);
      }
      audit?.(user.name, 'account.deleted', { name });
    }
    res.redirect(303, USERS_PATH);
  });
}
