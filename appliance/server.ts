/**
 * The appliance process: data directory, state, blob store, Git mirror, the import manager and the HTTP server
 * (API, embedded registry, Git smart HTTP). Start-up completes or abandons whatever a crash interrupted.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { writeFileAtomic } from '../src/fs-atomic.js';
import { OciLayoutStore } from '../src/oci-layout.js';
import type { CredentialLookup } from '../src/registry/credentials.js';
import type { TrustRoot } from '../keys/trust-root.js';
import type { ApplianceContext, Logger } from './context.js';
import { GitMirror } from './git/mirror.js';
import { gitHttpHandler } from './git/http-backend.js';
import { apiRouter } from './http/api.js';
import { callerOf, hashToken, newToken } from './http/auth.js';
import { hashPassword, passwordProblem } from './http/passwords.js';
import { uiRouter } from './ui/router.js';
import { AirlockError } from '../src/errors.js';
import { ImportManager } from './import/manager.js';
import { DEFAULT_KEEP, collectGarbage, gcFields } from './gc/collect.js';
import { gcRouter } from './gc/route.js';
import { finishPublish } from './import/pipeline.js';
import { Cluster } from './reconcile/cluster.js';
import { Reconciler } from './reconcile/reconciler.js';
import { ExternalRegistry } from './registry/external.js';
import { registryHandler } from './registry/serve.js';
import { loadOrCreateSiteKey } from './site-key.js';
import { StateStore } from './state/store.js';

export interface ApplianceOptions {
  dataDir: string;
  trust: TrustRoot;
  host?: string;
  port?: number;
  media?: string;
  registry?: string;
  credentials?: CredentialLookup;
  channel?: string;
  /** Require an API token for /v2 and /git too (anonymous read by default). */
  pullRequiresToken?: boolean;
  tls?: { cert: Buffer; key: Buffer };
  log: Logger;
  now?: () => Date;
  failpoint?: (name: string) => void;
  /** Reconcile the cluster this kubeconfig names (else the in-cluster service account, else no reconciling). */
  kubeconfig?: string;
  /** Environment for finding an in-cluster service account (process.env by default). */
  env?: NodeJS.ProcessEnv;
  /** Check interval (default 60 s). */
  intervalMs?: number;
  selfHeal?: boolean;
  forceConflicts?: boolean;
  /** A file holding the password of the `admin` web UI account, created at first start. */
  adminPasswordFile?: string;
  /** host:port the cluster pulls images from (default: --registry's host, else this appliance's address). */
  registryHost?: string;
  /** Releases held per channel for rollback (default 3); older ones are garbage collected after each import. */
  keep?: number;
  /** Free bytes in the data directory (statfs by default). */
  freeBytes?: (dir: string) => Promise<number>;
}

export interface RunningAppliance {
  url: string;
  port: number;
  ctx: ApplianceContext;
  imports: ImportManager;
  /** Set on first start only: the admin token written to DATA/admin-token. */
  adminTokenPath: string;
  close(): Promise<void>;
}

/**
 * At first start, the web UI's `admin` account: its password from --admin-password-file, or else a one-time setup
 * link (valid 24 hours) in the log.
 */
async function firstAccount(ctx: ApplianceContext, passwordFile: string | undefined): Promise<string | undefined> {
  if (ctx.state.accounts.userCount() > 0) return undefined;
  if (passwordFile) {
    const password = (await readFile(passwordFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new AirlockError('USAGE', `--admin-password-file ${passwordFile}: ${err.code ?? err.message}`);
    })).replace(/\r?\n$/, '');
    const problem = passwordProblem(password);
    if (problem) throw new AirlockError('USAGE', `--admin-password-file ${passwordFile}: ${problem}`);
    ctx.state.accounts.putUser('admin', 'admin', await hashPassword(password), ctx.now());
    ctx.log.info('first start: created the admin account of the web UI', { passwordFile });
    return undefined;
  }
  const token = randomBytes(24).toString('base64url');
  ctx.state.accounts.addSetupToken(hashToken(token), new Date(ctx.now().getTime() + 24 * 3600_000));
  return token;
}

export async function startAppliance(opts: ApplianceOptions): Promise<RunningAppliance> {
  const { dataDir, log, now = () => new Date() } = opts;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await mkdir(join(dataDir, 'git'), { recursive: true });
  const state = new StateStore(join(dataDir, 'state.db'));
  const cas = await OciLayoutStore.open(join(dataDir, 'store'), { create: true });
  const siteKey = await loadOrCreateSiteKey(dataDir, log);
  const ctx: ApplianceContext = {
    state,
    cas,
    mirror: new GitMirror(join(dataDir, 'git')),
    trust: opts.trust,
    siteKey,
    ...(opts.registry ? { external: new ExternalRegistry(opts.registry, opts.credentials ? { credentials: opts.credentials } : {}) } : {}),
    ...(opts.channel ? { channel: opts.channel } : {}),
    now,
    log,
    failpoint: opts.failpoint ?? (() => undefined),
  };

  const interrupted = state.settleInterrupted(now());
  if (interrupted.failed.length) log.warn('imports interrupted by a stop were marked failed; the previous bundles stay in force', { ids: interrupted.failed });
  if (interrupted.completed.length) log.info('imports published before a stop were completed', { ids: interrupted.completed });
  await finishPublish(ctx);
  const leftovers = await cas.ingestLeftovers(); // partial blobs of a receive that was killed
  for (const f of leftovers) await rm(f.path, { force: true });
  if (leftovers.length) log.info('removed partial blobs of interrupted imports', { files: leftovers.length, bytes: leftovers.reduce((n, f) => n + f.size, 0) });

  const adminTokenPath = join(dataDir, 'admin-token');
  if (state.tokenCount() === 0) {
    const token = newToken();
    await writeFileAtomic(adminTokenPath, `${token}\n`, { mode: 0o600 }); // durable before the database names it
    state.addToken('admin', hashToken(token), 'admin', 'admin', now());
    log.info('first start: wrote an admin API token', { path: adminTokenPath });
  }

  // Before listening: a bad --admin-password-file stops the start-up with nothing served.
  const setupToken = await firstAccount(ctx, opts.adminPasswordFile);
  const keep = opts.keep ?? DEFAULT_KEEP;
  const collect = async () => {
    try {
      log.info('garbage collected', gcFields(await collectGarbage(ctx, { keep, dryRun: false })));
    } catch (err) {
      log.warn('garbage collection failed; it is tried again after the next import', { message: (err as Error).message });
    }
  };
  const imports = new ImportManager(ctx, dataDir, opts.freeBytes, collect);
  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    const started = Date.now();
    res.on('finish', () => log.info('request', { method: req.method, path: req.originalUrl.split('?')[0], status: res.statusCode, ms: Date.now() - started }));
    next();
  });
  app.use('/api/v1/gc', gcRouter({ ctx, imports, keep }));
  app.use('/api/v1', apiRouter({ ctx, imports, ...(opts.media ? { media: opts.media } : {}) }));
  let registryHost = '';
  app.use('/ui', uiRouter({ ctx, imports, ...(opts.media ? { media: opts.media } : {}), secure: Boolean(opts.tls), registryHost: () => registryHost }));
  app.get('/', (_req, res) => res.redirect(303, '/ui/'));
  const pullAuth = (req: Request, res: Response, next: NextFunction) => {
    if (!opts.pullRequiresToken || callerOf(req, state)) return next();
    res.status(401).set('www-authenticate', 'Bearer realm="airlock"').json({ errors: [{ code: 'UNAUTHORIZED', message: 'a token is required' }] });
  };
  app.use('/v2', pullAuth, registryHandler(state, cas));
  app.use('/git', pullAuth, gitHttpHandler(join(dataDir, 'git')));
  app.use((_req, res) => res.status(404).json({ error: { code: 'NOT_FOUND', message: 'no such endpoint' } }));

  const server: Server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, app) : createHttpServer(app);
  server.requestTimeout = 0; // uploads of large bundles take as long as they take
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${opts.tls ? 'https' : 'http'}://${host}:${address.port}`;
  registryHost = `${host}:${address.port}`;
  log.info('appliance listening', { url, data: dataDir, registry: `${host}:${address.port}`, git: `${url}/git/NAME.git`, ui: `${url}/ui/`, externalRegistry: opts.registry ?? null });
  if (setupToken) ctx.log.warn('first start: open this one-time link within 24 hours to choose the admin password of the web UI', { setup: `${url}/ui/setup?token=${setupToken}` });

  const cluster = Cluster.connect(opts.kubeconfig, opts.env ?? process.env);
  if (cluster) {
    const ownHost = address.address === '0.0.0.0' || address.address === '::' ? `${hostname()}:${address.port}` : `${host}:${address.port}`;
    const registryHost = opts.registryHost ?? (opts.registry ? new URL(opts.registry).host : ownHost);
    ctx.reconciler = new Reconciler(ctx, { cluster, registryHost, intervalMs: opts.intervalMs ?? 60_000, selfHeal: opts.selfHeal === true, forceConflicts: opts.forceConflicts === true });
    log.info('reconciling the cluster', { server: cluster.server, registryHost, intervalMs: opts.intervalMs ?? 60_000, selfHeal: opts.selfHeal === true });
    ctx.reconciler.start();
  } else {
    ctx.reconcileDisabled = 'no --kubeconfig and no in-cluster service account: bundles are imported and served, the cluster is not reconciled';
    log.warn(ctx.reconcileDisabled);
  }

  return {
    url,
    port: address.port,
    ctx,
    imports,
    adminTokenPath,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      await imports.idle();
      await ctx.reconciler?.stop();
      state.close();
      log.info('appliance stopped');
    },
  };
}
