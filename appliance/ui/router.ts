/**
 * The web UI under /ui: sign-in (scrypt passwords, throttled), sessions in HttpOnly SameSite=Strict cookies
 * (Secure under HTTPS), a CSRF token on every state-changing request, server-rendered pages, and its own static
 * assets under a Content Security Policy that allows nothing from anywhere else.
 */
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { errorMessage } from '../../src/errors.js';
import type { ApplianceContext } from '../context.js';
import { type Caller, callerOf, csrfProblem, hasRole, hashToken } from '../http/auth.js';
import { hashPassword, passwordProblem, verifyPassword } from '../../src/web/passwords.js';
import { endSession, startSession as beginSession } from '../../src/web/session.js';
import { login as loginPage, setup as setupPage } from '../../src/web/sign-in-pages.js';
import { LoginThrottle } from '../../src/web/throttle.js';
import { catchAsync, describeError, logFailure } from '../http/errors.js';
import type { ImportManager } from '../import/manager.js';
import type { Role } from '../state/store.js';
import { trustBanner } from '../status.js';
import { CONTENT_SECURITY_POLICY, useUiBasics } from '../../src/ui/assets.js';
import { type Html, type Nav, type PageUser, html, page } from '../../src/ui/html.js';
import { importDetail } from './import-detail.js';
import { overview, overviewData, trustExpiry } from './overview.js';
import * as pages from './pages.js';

export { CONTENT_SECURITY_POLICY };

/** The appliance's pages, in the order of its navigation bar. */
export const APPLIANCE_NAV: Nav = {
  links: [
    ['/ui/', 'Overview'],
    ['/ui/import', 'Import'],
    ['/ui/history', 'History'],
    ['/ui/cluster', 'Cluster'],
    ['/ui/registry', 'Registry'],
    ['/ui/trust', 'Trust'],
    ['/ui/audit', 'Audit'],
    ['/ui/users', 'Users'],
  ],
  logout: '/ui/logout',
};

export interface UiOptions {
  ctx: ApplianceContext;
  imports: ImportManager;
  media?: string;
  secure: boolean;
  /** host:port of the registry, for the Registry page. */
  registryHost: () => string;
}

export function uiRouter({ ctx, imports, media, secure, registryHost }: UiOptions): Router {
  const router = catchAsync(Router()); // every async handler's rejection reaches the error page below
  const throttle = new LoginThrottle();
  const form = express.urlencoded({ extended: false, limit: '16kb' });

  useUiBasics(router);

  const send = (res: Response, status: number, title: string, body: Html, user?: PageUser, current = '') => {
    res.status(status).type('html').send(page(title, body, user, current, user ? trustBanner(ctx) : undefined, APPLIANCE_NAV));
  };
  const pageUser = (c: Caller): PageUser => ({ name: c.name, role: c.role, csrf: c.csrf ?? '' });

  const startSession = (res: Response, name: string) => beginSession(ctx.state.accounts, res, name, ctx.now(), secure);

  router.get('/login', (req, res) => {
    if (callerOf(req, ctx.state, ctx.now())) return res.redirect(303, '/ui/');
    send(res, 200, 'Sign in', loginPage());
  });

  router.post('/login', form, async (req, res) => {
    const name = String((req.body as { name?: unknown }).name ?? '');
    const password = String((req.body as { password?: unknown }).password ?? '');
    const key = `${name}\n${req.ip ?? ''}`;
    const wait = throttle.wait(key, Date.now());
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      ctx.state.audit(name || '?', 'login.throttled', { ip: req.ip }, ctx.now());
      res.set('retry-after', String(seconds));
      return send(res, 429, 'Sign in', loginPage(`Too many failed sign-ins for this account. Try again in ${seconds} s.`));
    }
    const user = ctx.state.accounts.user(name);
    if (!user || !(await verifyPassword(password, user.password))) {
      throttle.fail(key, Date.now());
      ctx.state.audit(name || '?', 'login.failed', { ip: req.ip }, ctx.now());
      return send(res, 401, 'Sign in', loginPage('Wrong name or password.'));
    }
    throttle.succeed(key);
    startSession(res, user.name);
    ctx.state.audit(user.name, 'login', { ip: req.ip }, ctx.now());
    res.redirect(303, '/ui/');
  });

  router.get('/setup', (req, res) => {
    send(res, 200, 'Set up airlock', setupPage(String(req.query.token ?? '')));
  });

  router.post('/setup', form, async (req, res) => {
    const token = String((req.body as { token?: unknown }).token ?? '');
    const password = String((req.body as { password?: unknown }).password ?? '');
    const problem = passwordProblem(password);
    if (problem) return send(res, 400, 'Set up airlock', setupPage(token, problem));
    if (ctx.state.accounts.user('admin') || !ctx.state.accounts.takeSetupToken(hashToken(token), ctx.now())) {
      return send(res, 403, 'Set up airlock', loginPage('This setup link is not valid (used already, or expired). Sign in instead.'));
    }
    ctx.state.accounts.putUser('admin', 'admin', await hashPassword(password), ctx.now());
    ctx.state.audit('admin', 'account.setup', {}, ctx.now());
    startSession(res, 'admin');
    res.redirect(303, '/ui/');
  });

  // Everything below needs a session (or a token); state-changing requests need the session's CSRF token.
  const signedIn = (req: Request, res: Response, next: NextFunction) => {
    const caller = callerOf(req, ctx.state, ctx.now());
    if (!caller) return res.redirect(303, '/ui/login');
    res.locals.caller = caller;
    next();
  };
  const checked = (role: Role) => (req: Request, res: Response, next: NextFunction) => {
    const caller = res.locals.caller as Caller;
    const csrf = csrfProblem(req, caller);
    if (csrf) return send(res, 403, 'Refused', pagesMessage(csrf), pageUser(caller));
    if (!hasRole(caller, role)) return send(res, 403, 'Refused', pagesMessage(`This needs the ${role} role; your account has ${caller.role}.`), pageUser(caller));
    next();
  };

  router.post('/logout', form, signedIn, checked('viewer'), (req, res) => {
    endSession(req, res, ctx.state.accounts);
    res.redirect(303, '/ui/login');
  });

  const view = (path: string, title: string, render: (req: Request, c: Caller) => Html | Promise<Html>) => {
    router.get(path, signedIn, async (req, res) => {
      const caller = res.locals.caller as Caller;
      try {
        send(res, 200, title, await render(req, caller), pageUser(caller), path);
      } catch (err) {
        logFailure(ctx.log, req, err);
        const { status, message } = describeError(err); // never a stack trace or a file path
        send(res, status, title, pagesMessage(message), pageUser(caller), path);
      }
    });
  };
  view('/', 'Overview', async () => overview(ctx, await overviewData(ctx)));
  view('/import', 'Import', () => pages.importPage(media, trustExpiry(ctx)));
  view('/history', 'History', (req, c) => pages.history(ctx, hasRole(c, 'operator'), c.csrf ?? '', Number(req.query.page ?? 1)));
  view('/cluster', 'Cluster', (req) => pages.cluster(ctx, typeof req.query.name === 'string' ? req.query.name : undefined));
  view('/registry', 'Registry', () => pages.registry(ctx, registryHost()));
  view('/trust', 'Trust', () => pages.trust(ctx));
  view('/audit', 'Audit log', (req) => pages.audit(ctx, Number(req.query.page ?? 1)));
  view('/users', 'Users', (_req, c) => pages.users(ctx, hasRole(c, 'admin'), c.csrf ?? ''));

  router.get('/imports/:id', signedIn, async (req, res) => {
    const caller = res.locals.caller as Caller;
    const record = ctx.state.getImport(req.params.id ?? '');
    if (!record) return send(res, 404, 'Import', pagesMessage(`No import ${req.params.id}.`), pageUser(caller));
    send(res, 200, `Import ${record.id}`, await importDetail(ctx, record), pageUser(caller));
  });

  router.post('/bundles/:root/apply', form, signedIn, checked('operator'), (req, res) => {
    const caller = res.locals.caller as Caller;
    try {
      const started = imports.reapply(req.params.root ?? '');
      ctx.state.audit(caller.name, 'bundle.reapply', { id: started.id, root: req.params.root }, ctx.now());
      res.redirect(303, `/ui/imports/${started.id}`);
    } catch (err) {
      send(res, 409, 'History', pagesMessage(errorMessage(err)), pageUser(caller));
    }
  });

  router.post('/users', form, signedIn, checked('admin'), async (req, res) => {
    const caller = res.locals.caller as Caller;
    const body = req.body as { name?: unknown; role?: unknown; password?: unknown };
    const name = String(body.name ?? '');
    const role = String(body.role ?? '') as Role;
    const password = String(body.password ?? '');
    const problem = !/^[a-z0-9._-]{1,64}$/.test(name) ? 'a name is 1 to 64 of a-z 0-9 . _ -' : !['viewer', 'operator', 'admin'].includes(role) ? 'no such role' : passwordProblem(password);
    if (problem) return send(res, 400, 'Users', pages.users(ctx, true, caller.csrf ?? '', problem), pageUser(caller), '/ui/users');
    ctx.state.accounts.putUser(name, role, await hashPassword(password), ctx.now());
    ctx.state.audit(caller.name, 'account.saved', { name, role }, ctx.now());
    send(res, 200, 'Users', pages.users(ctx, true, caller.csrf ?? '', `Saved ${name} (${role}).`), pageUser(caller), '/ui/users');
  });

  router.post('/users/:name/delete', form, signedIn, checked('admin'), (req, res) => {
    const caller = res.locals.caller as Caller;
    const name = req.params.name ?? '';
    if (name !== 'admin') {
      ctx.state.accounts.deleteUser(name);
      ctx.state.audit(caller.name, 'account.deleted', { name }, ctx.now());
    }
    res.redirect(303, '/ui/users');
  });

  router.use((req, res) => {
    const caller = callerOf(req, ctx.state, ctx.now());
    send(res, 404, 'Not found', pagesMessage('No such page.'), caller ? pageUser(caller) : undefined);
  });
  // The UI's error page: the failure's message (never a stack trace or a file path); 5xx are logged at error level.
  router.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    logFailure(ctx.log, req, err);
    if (res.headersSent) return next(err);
    const { status, message } = describeError(err);
    const caller = res.locals.caller as Caller | undefined;
    send(res, status, status >= 500 ? 'Error' : 'Refused', pagesMessage(message), caller ? pageUser(caller) : undefined);
  });
  return router;
}

function pagesMessage(text: string): Html {
  return html`<p class="card error">${text}</p>`;
}
