/**
 * The fleet page under /ui: the same sign-in model as the appliance (src/web: scrypt passwords, throttled
 * sign-in, sessions in HttpOnly SameSite=Strict cookies, a CSRF token on every state-changing request, a
 * one-time setup link for the first admin, accounts with roles on the shared Users page), the same UI kit and
 * assets (src/ui), and the fleet's views (src/fleet/pages.ts) over a snapshot of every site's status that is
 * refreshed in the background.
 */
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { errorMessage, isAirlockError } from '../../src/errors.js';
import { useUiBasics } from '../../src/ui/assets.js';
import { type Html, html, page } from '../../src/ui/html.js';
import { FLEET_NAV, type FleetSnapshot, overviewPage, sitePage, sitesPage } from '../../src/fleet/pages.js';
import type { AccountStore } from '../../src/web/accounts.js';
import { type SessionUser, csrfProblemFor, endSession, sessionOf } from '../../src/web/session.js';
import { addSignInRoutes } from '../../src/web/sign-in-routes.js';
import { type WebUser, addUsersRoutes } from '../../src/web/users-routes.js';

export interface FleetWebOptions {
  accounts: AccountStore;
  snapshot: () => FleetSnapshot;
  now: () => Date;
  secure: boolean;
  /** Where a failure behind a 500 is written (never shown to the browser). */
  log?: (line: string) => void;
}

export function fleetApp(opts: FleetWebOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/', (_req, res) => res.redirect(303, '/ui/'));
  app.use('/ui', fleetRouter(opts));
  return app;
}

function fleetRouter({ accounts, snapshot, now, secure, log }: FleetWebOptions): Router {
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  useUiBasics(router);

  const send = (res: Response, status: number, title: string, body: Html, user?: WebUser, current = '') => {
    const snap = snapshot();
    const banner = user && snap.error ? { level: 'error', text: `The fleet could not be read at the last refresh: ${snap.error}` } : undefined;
    res.status(status).type('html').send(page(title, body, user ? { name: user.name, role: user.role, csrf: user.csrf ?? '' } : undefined, current, banner, FLEET_NAV));
  };
  const message = (text: string) => html`<p class="card error">${text}</p>`;

  addSignInRoutes(router, { accounts, now, secure, signedIn: (req) => sessionOf(req, accounts, now()) !== undefined, send: (res, status, title, body) => send(res, status, title, body), setupTitle: 'Set up the fleet page' });

  // Everything below needs a session; a state-changing request needs the session's CSRF token.
  const signedIn = (req: Request, res: Response, next: NextFunction) => {
    const user = sessionOf(req, accounts, now());
    if (!user) return res.redirect(303, '/ui/login');
    const csrf = csrfProblemFor(req, user.csrf);
    if (csrf) return send(res, 403, 'Refused', message(csrf), user);
    res.locals.user = user;
    next();
  };
  router.post('/logout', form, signedIn, (req, res) => {
    endSession(req, res, accounts);
    res.redirect(303, '/ui/login');
  });
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  router.get('/', signedIn, (req, res) => send(res, 200, 'Fleet', overviewPage(snapshot(), str(req.query.by), now()), res.locals.user as SessionUser, '/ui/'));
  router.get('/sites', signedIn, (req, res) => {
    const q = req.query;
    const pageNo = Number(q.page ?? 1);
    const filter = { page: Number.isSafeInteger(pageNo) && pageNo >= 1 ? pageNo : 1, ...(str(q.state) ? { state: str(q.state) } : {}), ...(str(q.wave) ? { wave: str(q.wave) } : {}), ...(str(q.label) ? { label: str(q.label) } : {}), ...(str(q.q) ? { q: str(q.q) } : {}) };
    send(res, 200, 'Sites', sitesPage(snapshot(), filter, now()), res.locals.user as SessionUser, '/ui/sites');
  });
  router.get('/sites/:name', signedIn, (req, res) => {
    const site = snapshot().byName.get(req.params.name ?? '');
    if (!site) return send(res, 404, 'Site', message(`No site ${req.params.name} in the fleet file.`), res.locals.user as SessionUser);
    send(res, 200, `Site ${site.name}`, sitePage(site, now()), res.locals.user as SessionUser, '/ui/sites');
  });
  addUsersRoutes(router, { accounts, now, signedIn, userOf: (res) => res.locals.user as SessionUser, send });
  router.use((req, res) => send(res, 404, 'Not found', message('No such page.'), sessionOf(req, accounts, now())));
  // The error page: the failure's message for a refusal, never a stack trace or a file path.
  router.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const http = (err as { status?: unknown } | undefined)?.status; // body-parser's refusals (a body too large)
    const status = isAirlockError(err) ? 400 : typeof http === 'number' && http >= 400 && http < 500 ? http : 500;
    if (status === 500) log?.(`fleet page: ${req.method} ${req.path}: ${errorMessage(err)}`);
    send(res, status, status === 500 ? 'Error' : 'Refused', message(status === 500 ? 'An internal error occurred; the fleet page log has the details.' : errorMessage(err)), res.locals.user as SessionUser | undefined);
  });
  return router;
}
