/**
 * The fleet page under /ui: the same sign-in model as the appliance (src/web: scrypt passwords, throttled
 * sign-in, sessions in HttpOnly SameSite=Strict cookies, a CSRF token on every state-changing request, a
 * one-time setup link for the first admin), the same UI kit and assets (src/ui), and the fleet's views
 * (src/fleet/pages.ts) over a snapshot of every site's status that is refreshed in the background.
 */
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { useUiBasics } from '../../src/ui/assets.js';
import { type Html, html, page } from '../../src/ui/html.js';
import { FLEET_NAV, type FleetSnapshot, overviewPage, sitePage, sitesPage } from '../../src/fleet/pages.js';
import type { AccountStore } from '../../src/web/accounts.js';
import { hashPassword, passwordProblem, verifyPassword } from '../../src/web/passwords.js';
import { type SessionUser, csrfProblemFor, endSession, hashToken, sessionOf, startSession } from '../../src/web/session.js';
import { login as loginPage, setup as setupPage } from '../../src/web/sign-in-pages.js';
import { LoginThrottle } from '../../src/web/throttle.js';

export interface FleetWebOptions {
  accounts: AccountStore;
  snapshot: () => FleetSnapshot;
  now: () => Date;
  secure: boolean;
}

export function fleetApp(opts: FleetWebOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/', (_req, res) => res.redirect(303, '/ui/'));
  app.use('/ui', fleetRouter(opts));
  return app;
}

function fleetRouter({ accounts, snapshot, now, secure }: FleetWebOptions): Router {
  const router = Router();
  const throttle = new LoginThrottle();
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  useUiBasics(router);

  const send = (res: Response, status: number, title: string, body: Html, user?: SessionUser, current = '') => {
    const snap = snapshot();
    const banner = user && snap.error ? { level: 'error', text: `The fleet could not be read at the last refresh: ${snap.error}` } : undefined;
    res.status(status).type('html').send(page(title, body, user, current, banner, FLEET_NAV));
  };
  const message = (text: string) => html`<p class="card error">${text}</p>`;

  router.get('/login', (req, res) => {
    if (sessionOf(req, accounts, now())) return res.redirect(303, '/ui/');
    send(res, 200, 'Sign in', loginPage());
  });
  router.post('/login', form, async (req, res) => {
    const name = String((req.body as { name?: unknown }).name ?? '');
    const password = String((req.body as { password?: unknown }).password ?? '');
    const key = `${name}\n${req.ip ?? ''}`;
    const wait = throttle.wait(key, Date.now());
    if (wait > 0) {
      res.set('retry-after', String(Math.ceil(wait / 1000)));
      return send(res, 429, 'Sign in', loginPage(`Too many failed sign-ins for this account. Try again in ${Math.ceil(wait / 1000)} s.`));
    }
    const user = accounts.user(name);
    if (!user || !(await verifyPassword(password, user.password))) {
      throttle.fail(key, Date.now());
      return send(res, 401, 'Sign in', loginPage('Wrong name or password.'));
    }
    throttle.succeed(key);
    startSession(accounts, res, user.name, now(), secure);
    res.redirect(303, '/ui/');
  });
  router.get('/setup', (req, res) => send(res, 200, 'Set up the fleet page', setupPage(String(req.query.token ?? ''))));
  router.post('/setup', form, async (req, res) => {
    const token = String((req.body as { token?: unknown }).token ?? '');
    const password = String((req.body as { password?: unknown }).password ?? '');
    const problem = passwordProblem(password);
    if (problem) return send(res, 400, 'Set up the fleet page', setupPage(token, problem));
    if (accounts.user('admin') || !accounts.takeSetupToken(hashToken(token), now())) {
      return send(res, 403, 'Set up the fleet page', loginPage('This setup link is not valid (used already, or expired). Sign in instead.'));
    }
    accounts.putUser('admin', 'admin', await hashPassword(password), now());
    startSession(accounts, res, 'admin', now(), secure);
    res.redirect(303, '/ui/');
  });

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
  router.use((req, res) => send(res, 404, 'Not found', message('No such page.'), sessionOf(req, accounts, now())));
  return router;
}
