import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Command, type CommandContext, UsageError, durationOpt, stringOpt } from '../../src/command.js';
import { AirlockError, errorMessage } from '../../src/errors.js';
import type { FleetSnapshot } from '../../src/fleet/pages.js';
import { siteStatus } from '../../src/fleet/status.js';
import { INTERVAL_RANGE } from '../../src/units.js';
import { ACCOUNT_TABLES, AccountStore } from '../../src/web/accounts.js';
import { hashPassword, passwordProblem } from '../../src/web/passwords.js';
import { hashToken } from '../../src/web/session.js';
import { type Opened, SOURCE_HELP, SOURCE_OPTIONS, closeSource, openFleet, readHeads, readReports } from './fleet-common.js';

export const fleetServe: Command = {
  path: ['fleet', 'serve'],
  summary: 'the fleet page: every site grouped by label, wave progress, each site in detail',
  help: `Usage: airlock fleet serve -f fleet.yaml [--depot oci://HOST/REPO | --receipts DIR] --data DIR
                            [--listen 127.0.0.1:8090] [--refresh 60s] [--admin-password-file FILE]

Serves the fleet page under /ui: the count of sites in each state, per wave how many run the channel
head, sites grouped by a label, the list of sites (filtered by state, wave, label or name; 100 to a
page), and each site's clusters with release, sync, health, drifted objects (by name, as the receipt
lists them), last report and whether its receipt verified. Receipts are read again every --refresh;
every asset is served from here. Sign-in is the appliance's: accounts with a role (viewer, operator,
admin) and a scrypt-hashed password in DATA/fleet.db, added and removed by an admin on the Users page;
sessions in HttpOnly SameSite=Strict cookies, a CSRF token on every change. At first start the admin
password comes from --admin-password-file, or else a one-time setup link is printed on stderr.

Options:
${SOURCE_HELP}
  --data DIR           where the page keeps its accounts and sessions (created if missing)
  --listen HOST:PORT   where to listen (default 127.0.0.1:8090; port 0 picks a free one)
  --refresh DURATION   how often to read the receipts again, from 1s to 7d (default 60s)
  --admin-password-file FILE  the first admin password (at least 10 characters), instead of a setup link`,
  options: { ...SOURCE_OPTIONS, data: { type: 'string' }, listen: { type: 'string' }, refresh: { type: 'string' }, 'admin-password-file': { type: 'string' } },
  async run(values, _positionals, ctx) {
    const data = stringOpt(values, 'data', true);
    const listen = stringOpt(values, 'listen') ?? '127.0.0.1:8090';
    const m = /^(.*):(\d+)$/.exec(listen);
    if (!m || Number(m[2]) > 65535) throw new UsageError(`--listen must be HOST:PORT with a port from 0 to 65535, not "${listen}"`);
    const refreshMs = durationOpt(values, 'refresh', INTERVAL_RANGE, '60s') ?? 60_000;
    const passwordFile = stringOpt(values, 'admin-password-file');
    await mkdir(data, { recursive: true });
    // Loaded on use: other commands need neither SQLite nor express.
    const { default: Database } = await import('better-sqlite3');
    const { fleetApp } = await import('./fleet-web.js');
    const db = new Database(join(data, 'fleet.db'));
    db.pragma('journal_mode = WAL');
    db.exec(ACCOUNT_TABLES);
    const accounts = new AccountStore(db);
    const setupToken = await firstAdmin(accounts, passwordFile, ctx.now());

    const opened = await openFleet(values);
    let snap = await readSnapshot(opened, ctx.now());
    let timer: NodeJS.Timeout | undefined;
    const refresh = async () => {
      try {
        snap = await readSnapshot(opened, ctx.now());
      } catch (err) {
        snap = { ...snap, error: errorMessage(err) };
      }
      timer = setTimeout(() => void refresh(), refreshMs);
    };
    timer = setTimeout(() => void refresh(), refreshMs);

    const app = fleetApp({ accounts, snapshot: () => snap, now: ctx.now, secure: false, log: (line) => ctx.stderr.write(`${line}\n`) });
    const server = app.listen(Number(m[2]), m[1] || '127.0.0.1');
    await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
    const url = `http://${m[1]}:${(server.address() as AddressInfo).port}`;
    ctx.stderr.write(`fleet page: ${url}/ui/ (${snap.sites.length} site(s))\n`);
    if (setupToken) ctx.stderr.write(`first start: open this one-time link within 24 hours to choose the admin password: ${url}/ui/setup?token=${setupToken}\n`);
    await stopped(ctx);
    clearTimeout(timer);
    await new Promise((r) => server.close(r));
    closeSource(opened.source);
    db.close();
  },
};

export async function readSnapshot(opened: Opened, now: Date): Promise<FleetSnapshot> {
  const reports = await readReports(opened);
  const heads = await readHeads(opened, reports, []);
  const sites = opened.fleet.sites.map((site) => siteStatus({ site, report: reports.reports.get(site.name), waves: opened.fleet.waves, heads, staleMs: opened.fleet.staleMs, now }));
  return { sites, byName: new Map(sites.map((s) => [s.name, s])), heads, waves: opened.fleet.waves, generated: now, source: opened.source.kind === 'depot' ? opened.source.url : opened.source.dir };
}

async function firstAdmin(accounts: AccountStore, passwordFile: string | undefined, now: Date): Promise<string | undefined> {
  if (accounts.userCount() > 0) return undefined;
  if (passwordFile) {
    const password = (await readFile(passwordFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new AirlockError('NOT_FOUND', `--admin-password-file ${passwordFile}: ${err.code ?? err.message}`);
    })).trim();
    const problem = passwordProblem(password);
    if (problem) throw new UsageError(`--admin-password-file ${passwordFile}: ${problem}`);
    accounts.putUser('admin', 'admin', await hashPassword(password), now);
    return undefined;
  }
  const token = randomBytes(24).toString('base64url');
  accounts.addSetupToken(hashToken(token), new Date(now.getTime() + 24 * 3600_000));
  return token;
}

/** Until SIGINT or SIGTERM. */
function stopped(_ctx: CommandContext): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}
