/**
 * The web UI under /ui: sign-in (scrypt passwords, throttled), sessions in HttpOnly SameSite=Strict cookies
 * (Secure under HTTPS), a CSRF token on every state-changing request, server-rendered pages, and its own static
 * assets under a Content Security Policy that allows nothing from anywhere else.
 */
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { errorMessage } from '../../src/errors.js';
import type { ApplianceContext } from '../context.js';
import { type Caller, callerOf, csrfProblem, hasRole } from '../http/auth.js';
import { endSession } from '../../src/web/session.js';
import { addSignInRoutes } from '../../src/web/sign-in-routes.js';
import { addUsersRoutes } from '../../src/web/users-routes.js';
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
  const form = express.urlencoded({ extended: false, limit: '16kb' });

  useUiBasics(router);

  const send = (res: Response, status: number, title: string, body: Html, user?: PageUser, current = '') => {
    res.status(status).type('html').send(page(title, body, user, current, user ? trustBanner(ctx) : undefined, APPLIANCE_NAV));
  };
  const pageUser = (c: Caller): PageUser => ({ name: c.name, role: c.role, csrf: c.csrf ?? '' });

  addSignInRoutes(router, {
    accounts: ctx.state.accounts,
    now: () => ctx.now(),
    secure,
    signedIn: (req) => callerOf(req, ctx.state, ctx.now()) !== undefined,
    send: (res, status, title, body) => send(res, status, title, body),
    setupTitle: 'Set up airlock',
    audit: (actor, action, detail) => ctx.state.audit(actor, action, detail, ctx.now()),
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
  addUsersRoutes(router, {
    accounts: ctx.state.accounts,
    now: () => ctx.now(),
    signedIn,
    userOf: (res) => res.locals.caller as Caller,
    send: (res, status, title, body, user, current) => send(res, status, title, body, { name: user.name, role: user.role, csrf: user.csrf ?? '' }, current),
    audit: (actor, action, detail) => ctx.state.audit(actor, action, detail, ctx.now()),
  });

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
