/**
 * Sign-in and first-start setup, shared by the appliance's UI and the fleet page (both mount them under /ui):
 * GET and POST /login (scrypt passwords, throttled per account and address, a session cookie on success) and
 * GET and POST /setup (a one-time link sets the first admin's password). Each UI brings its own page frame and,
 * where it keeps one, its audit log.
 */
import express, { type Request, type Response, type Router } from 'express';
import type { Html } from '../ui/html.js';
import type { AccountStore } from './accounts.js';
import { hashPassword, passwordProblem, verifyPassword } from './passwords.js';
import { hashToken, startSession } from './session.js';
import { login as loginPage, setup as setupPage } from './sign-in-pages.js';
import { LoginThrottle } from './throttle.js';

export interface SignInRoutesOptions {
  accounts: AccountStore;
  now: () => Date;
  /** Whether the session cookie is marked Secure (under HTTPS). */
  secure: boolean;
  /** Whether the request is signed in already (GET /login then goes to the UI's first page). */
  signedIn: (req: Request) => boolean;
  /** Sends a page in the UI's frame, signed out. */
  send: (res: Response, status: number, title: string, body: Html) => void;
  /** The setup page's title ("Set up airlock"). */
  setupTitle: string;
  /** Records sign-ins, refusals and the first admin, where the UI keeps an audit log. */
  audit?: (actor: string, action: string, detail: Record<string, unknown>) => void;
  /** The throttle of failed sign-ins (one per UI; a new one by default). */
  throttle?: LoginThrottle;
}

/** Adds GET/POST /login and GET/POST /setup to a router mounted at /ui. */
export function addSignInRoutes(router: Router, opts: SignInRoutesOptions): void {
  const { accounts, now, secure, signedIn, send, setupTitle, audit } = opts;
  const throttle = opts.throttle ?? new LoginThrottle();
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  const field = (req: Request, name: string) => String((req.body as Record<string, unknown> | undefined)?.[name] ?? '');

  router.get('/login', (req, res) => {
    if (signedIn(req)) return res.redirect(303, '/ui/');
    send(res, 200, 'Sign in', loginPage());
  });

  router.post('/login', form, (req, res, next) => {
    const name = field(req, 'name');
    const password = field(req, 'password');
    const key = `${name}\n${req.ip ?? ''}`;
    const wait = throttle.wait(key, Date.now());
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      audit?.(name || '?', 'login.throttled', { ip: req.ip });
      res.set('retry-after', String(seconds));
      return send(res, 429, 'Sign in', loginPage(`Too many failed sign-ins for this account. Try again in ${seconds} s.`));
    }
    const user = accounts.user(name);
    (user ? verifyPassword(password, user.password) : Promise.resolve(false))
      .then((ok) => {
        if (!user || !ok) {
          throttle.fail(key, Date.now());
          audit?.(name || '?', 'login.failed', { ip: req.ip });
          return send(res, 401, 'Sign in', loginPage('Wrong name or password.'));
        }
        throttle.succeed(key);
        startSession(accounts, res, user.name, now(), secure);
        audit?.(user.name, 'login', { ip: req.ip });
        res.redirect(303, '/ui/');
      })
      .catch(next);
  });

  router.get('/setup', (req, res) => send(res, 200, setupTitle, setupPage(String(req.query.token ?? ''))));

  router.post('/setup', form, (req, res, next) => {
    const token = field(req, 'token');
    const password = field(req, 'password');
    const problem = passwordProblem(password);
    if (problem) return send(res, 400, setupTitle, setupPage(token, problem));
    if (accounts.user('admin') || !accounts.takeSetupToken(hashToken(token), now())) {
      return send(res, 403, setupTitle, loginPage('This setup link is not valid (used already, or expired). Sign in instead.'));
    }
    hashPassword(password)
      .then((hash) => {
        accounts.putUser('admin', 'admin', hash, now());
        audit?.('admin', 'account.setup', {});
        startSession(accounts, res, 'admin', now(), secure);
        res.redirect(303, '/ui/');
      })
      .catch(next);
  });
}
