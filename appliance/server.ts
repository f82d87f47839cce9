/**
 * The appliance process: data directory, state, blob store, Git mirror, the import manager and the HTTP server
 * (API, embedded registry, Git smart HTTP). Start-up completes or abandons whatever a crash interrupted.
 */
import type { Tools } from '../src/charts/tools.js';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { type IncomingMessage, type RequestListener, type Server, type ServerResponse, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { writeFileAtomic } from '../src/fs-atomic.js';
import { OciLayoutStore } from '../src/oci-layout.js';
import type { CredentialLookup } from '../src/registry/credentials.js';
import type { RegistryTransport } from '../src/registry/transport.js';
import type { TrustRoot } from '../keys/trust-root.js';
import type { ApplianceContext, Logger } from './context.js';
import { GitMirror } from './git/mirror.js';
import { gitHttpHandler } from './git/http-backend.js';
import { RENDERED_REPO, RenderedRepo } from './git/rendered.js';
import { apiRouter } from './http/api.js';
import { hashToken, newToken, requirePull } from './http/auth.js';
import { jsonErrorHandler, ociErrorHandler } from './http/errors.js';
import { healthRouter } from './http/health.js';
import { type ConnectionLimits, DEFAULT_LIMITS, limitConnections, requestGuard, serverTimeouts } from './http/limits.js';
import { metricsRouter } from './http/metrics.js';
import { hashPassword, passwordProblem } from './http/passwords.js';
import { uiRouter } from './ui/router.js';
import { AirlockError, errorMessage } from '../src/errors.js';
import { ImportManager } from './import/manager.js';
import { DEFAULT_KEEP, collectGarbage, gcFields } from './gc/collect.js';
import { gcRouter } from './gc/route.js';
import { finishPublish } from './import/pipeline.js';
import type { Cluster } from './reconcile/cluster.js';
import { implicitSite } from './reconcile/implicit-site.js';
import type { Site } from '../src/site/site-file.js';
import { ExternalRegistry } from './registry/external.js';
import { registryHandler } from './registry/serve.js';
import { loadOrCreateSiteKey } from './site-key.js';
import { StateStore } from './state/store.js';
import { watchTrust } from './status.js';
import { type DepotConfig, type RunningDepot, startDepot } from './depot/start.js';
import { trustDirOf, trustInForce } from './trust-store.js';

export interface ApplianceOptions {
  dataDir: string;
  /** helm and kustomize for charts and overlays (default: PATH). */
  tools?: Tools;
  trust: TrustRoot;
  host?: string;
  port?: number;
  media?: string;
  registry?: string;
  credentials?: CredentialLookup;
  /** Proxy and TLS settings for --registry. */
  registryTransport?: RegistryTransport;
  channel?: string;
  /** Require an API token for /v2 and /git too (anonymous read by default): Basic (token as password) or Bearer. */
  pullRequiresToken?: boolean;
  /** The most entries per page of the registry's tags list and catalog (default 1000). */
  registryMaxPage?: number;
  tls?: { cert: Buffer; key: Buffer };
  log: Logger;
  now?: () => Date;
  failpoint?: (name: string) => void;
  /** Reconcile the cluster this kubeconfig names (else the in-cluster service account, else no reconciling). */
  kubeconfig?: string;
  /** The site file, read and checked (`--site`): its clusters are reconciled instead of --kubeconfig's. */
  site?: Site;
  /** How long one request to a cluster's API may take (30 s by default). */
  kubeTimeoutMs?: number;
  /** How long one sync wave may take to become Healthy (5 minutes by default). */
  waveTimeoutMs?: number;
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
  /** Header and body timeouts, connections per client (DEFAULT_LIMITS by default). */
  limits?: Partial<ConnectionLimits>;
  /** `--depot`: poll a registry for releases of --channel and push receipts back (appliance/depot/). */
  depot?: DepotConfig;
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
async function firstAccount(ctx: ApplianceContext, password: { file: string; text: string } | undefined): Promise<string | undefined> {
  if (ctx.state.accounts.adminCount() > 0) return undefined;
  if (password) {
    // first start, or no admin account left (lost, or removed by hand in the database): (re)create `admin`
    const restoring = ctx.state.accounts.userCount() > 0;
    ctx.state.accounts.putUser('admin', 'admin', await hashPassword(password.text), ctx.now());
    ctx.state.audit('system', restoring ? 'account.admin-restored' : 'account.setup', { passwordFile: password.file }, ctx.now());
    ctx.log.info(restoring ? 'no admin account was left: restored the admin account of the web UI from --admin-password-file' : 'first start: created the admin account of the web UI', { passwordFile: password.file });
    return undefined;
  }
  if (ctx.state.accounts.userCount() > 0) {
    ctx.log.warn('no account of the web UI has the admin role: restart with --admin-password-file to restore the admin account');
    return undefined;
  }
  const token = randomBytes(24).toString('base64url');
  ctx.state.accounts.addSetupToken(hashToken(token), new Date(ctx.now().getTime() + 24 * 3600_000));
  return token;
}

export async function startAppliance(opts: ApplianceOptions): Promise<RunningAppliance> {
  const { log } = opts;
  const limits: ConnectionLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  // Everything that can be wrong with the options is found before anything is written: the kubeconfig is parsed and
  // its client configuration built, the password file read and checked, and the port bound.
  if (!opts.site) await checkKubeconfig(opts.kubeconfig, opts.env ?? process.env); // a site file's kubeconfigs are checked as it is read
  const adminPassword = opts.adminPasswordFile ? await readPasswordFile(opts.adminPasswordFile) : undefined;
  let handler: RequestListener = (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"error":{"code":"STARTING","message":"the appliance is starting"}}');
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => handler(req, res);
  const timeouts = serverTimeouts(limits);
  const server: Server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key, ...timeouts }, listener) : createHttpServer(timeouts, listener);
  limitConnections(server, limits, log);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new AirlockError('USAGE', `cannot listen on ${opts.host ?? '127.0.0.1'}:${opts.port ?? 8080}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EACCES' ? 'permission denied' : errorMessage(err)}`)));
    try {
      server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => resolve());
    } catch (err) {
      reject(new AirlockError('USAGE', `cannot listen on ${opts.host ?? '127.0.0.1'}:${opts.port ?? 8080}: ${errorMessage(err)}`));
    }
  });
  server.on('error', (err) => log.error('server error', { message: errorMessage(err) }));
  try {
    return await startWithServer(opts, server, adminPassword, limits, (app) => (handler = app));
  } catch (err) {
    server.close();
    server.closeAllConnections();
    throw err;
  }
}

async function startWithServer(
  opts: ApplianceOptions,
  server: Server,
  adminPassword: { file: string; text: string } | undefined,
  limits: ConnectionLimits,
  serve: (app: RequestListener) => void,
): Promise<RunningAppliance> {
  const { dataDir, log, now = () => new Date() } = opts;
  const trust = await trustInForce(dataDir, opts.trust, now()); // the given root advanced by accepted rotations, checked before anything is written
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await mkdir(join(dataDir, 'git'), { recursive: true });
  const state = new StateStore(join(dataDir, 'state.db'));
  const cas = await OciLayoutStore.open(join(dataDir, 'store'), { create: true });
  const siteKey = await loadOrCreateSiteKey(dataDir, log);
  const ctx: ApplianceContext = {
    state,
    cas,
    mirror: new GitMirror(join(dataDir, 'git')),
    trust,
    trustDir: trustDirOf(dataDir),
    siteKey,
    ...(opts.registry ? { external: new ExternalRegistry(opts.registry, { ...(opts.credentials ? { credentials: opts.credentials } : {}), ...(opts.registryTransport ? { transport: opts.registryTransport } : {}) }) } : {}),
    ...(opts.channel ? { channel: opts.channel } : {}),
    ...(opts.tools ? { tools: opts.tools } : {}),
    ...(opts.site ? { site: { name: opts.site.name, labels: opts.site.labels } } : {}),
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
  const setupToken = await firstAccount(ctx, adminPassword);
  const keep = opts.keep ?? DEFAULT_KEEP;
  const collect = async () => {
    try {
      log.info('garbage collected', gcFields(await collectGarbage(ctx, { keep, dryRun: false })));
    } catch (err) {
      log.warn('garbage collection failed; it is tried again after the next import', { message: (err as Error).message });
    }
  };
  const imports = new ImportManager(ctx, dataDir, opts.freeBytes, collect);
  let serving = true;
  const app = express();
  app.disable('x-powered-by');
  app.use(requestGuard(limits));
  app.use((req, res, next) => {
    const started = Date.now();
    res.on('finish', () => (res.statusCode >= 500 ? log.error : log.info)('request', { method: req.method, path: req.originalUrl.split('?')[0], status: res.statusCode, ms: Date.now() - started }));
    next();
  });
  app.use(healthRouter({ state, dataDir, serving: () => serving }));
  app.use('/api/v1/gc', gcRouter({ ctx, imports, keep }));
  app.use('/api/v1', apiRouter({ ctx, imports, ...(opts.media ? { media: opts.media } : {}) }));
  let registryHost = '';
  app.use('/ui', uiRouter({ ctx, imports, ...(opts.media ? { media: opts.media } : {}), secure: Boolean(opts.tls), registryHost: () => registryHost }));
  app.get('/', (_req, res) => res.redirect(303, '/ui/'));
  app.use(metricsRouter(ctx));
  const required = opts.pullRequiresToken === true;
  app.use('/v2', requirePull(state, { required, kind: 'registry' }), registryHandler(state, cas, opts.registryMaxPage ? { maxPage: opts.registryMaxPage } : {}), ociErrorHandler(log));
  const gitHttp = gitHttpHandler(join(dataDir, 'git'));
  const renderedHttp = gitHttpHandler(join(dataDir, 'rendered')); // the rendered branches (ADR 017)
  app.use('/git', requirePull(state, { required, kind: 'git' }), (req, res) => (req.path === `/${RENDERED_REPO}` || req.path.startsWith(`/${RENDERED_REPO}/`) ? renderedHttp : gitHttp)(req, res));
  app.use((_req, res) => res.status(404).json({ error: { code: 'NOT_FOUND', message: 'no such endpoint' } }));
  app.use(jsonErrorHandler(log));
  serve(app);

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${opts.tls ? 'https' : 'http'}://${host}:${address.port}`;
  registryHost = `${host}:${address.port}`;
  log.info('appliance listening', { url, data: dataDir, registry: `${host}:${address.port}`, git: `${url}/git/NAME.git`, ui: `${url}/ui/`, externalRegistry: opts.registry ?? null });
  const stopTrustWatch = watchTrust(ctx); // at start and daily: loud from 30 days before expiry
  if (setupToken) ctx.log.warn('first start: open this one-time link within 24 hours to choose the admin password of the web UI', { setup: `${url}/ui/setup?token=${setupToken}` });

  const site = opts.site ?? implicitSite(`appliance-${siteKey.keyid.replace(/[^a-z0-9]/g, '').slice(0, 12)}`, opts.kubeconfig, opts.env ?? process.env);
  if (site) {
    const ownHost = address.address === '0.0.0.0' || address.address === '::' ? `${hostname()}:${address.port}` : `${host}:${address.port}`;
    const registryHost = opts.registryHost ?? (opts.registry ? new URL(opts.registry).host : ownHost);
    // The Kubernetes client, the reconciler and the chart tools load only for an appliance that has clusters (module
    // loading: about 3.5 s for the client alone); an appliance that only imports and serves never loads them.
    const [{ connectClusters }, { Reconciler }, { chartExpander }, { Tools }] = await Promise.all([import('./reconcile/targets.js'), import('./reconcile/reconciler.js'), import('../src/charts/expand.js'), import('../src/charts/tools.js')]);
    const clusters = connectClusters(site, opts.env ?? process.env, opts.kubeTimeoutMs);
    ctx.reconciler = new Reconciler(ctx, {
      site: site.name,
      siteLabels: site.labels,
      siteValues: site.values,
      rendered: new RenderedRepo(join(dataDir, 'rendered')),
      expandSources: chartExpander(ctx.tools ?? new Tools()),
      clusters,
      registryHost,
      intervalMs: opts.intervalMs ?? 60_000,
      selfHeal: opts.selfHeal === true,
      forceConflicts: opts.forceConflicts === true,
      ...(opts.waveTimeoutMs ? { waveTimeoutMs: opts.waveTimeoutMs } : {}),
    });
    log.info('reconciling', { site: site.name, clusters: clusters.map((c) => ({ name: c.name, server: c.api.server, reconcile: c.reconcile })), registryHost, intervalMs: opts.intervalMs ?? 60_000, selfHeal: opts.selfHeal === true });
    ctx.reconciler.start();
  } else {
    ctx.reconcileDisabled = 'no --site, no --kubeconfig and no in-cluster service account: bundles are imported and served, the cluster is not reconciled';
    log.warn(ctx.reconcileDisabled);
  }

  let depot: RunningDepot | undefined;
  if (opts.depot) {
    depot = await startDepot(ctx, imports, dataDir, opts.depot);
    ctx.depot = depot;
  }

  return {
    url,
    port: address.port,
    ctx,
    imports,
    adminTokenPath,
    async close() {
      serving = false;
      stopTrustWatch();
      await depot?.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        gitHttp.close(); // git children of requests still running: their responses end
        renderedHttp.close();
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

/** The cluster to reconcile, with its kubeconfig parsed and its client configuration built; a bad one stops the start. */
async function checkKubeconfig(kubeconfig: string | undefined, env: NodeJS.ProcessEnv): Promise<Cluster | undefined> {
  // No cluster (the same test as Cluster.connect and implicitSite): the cluster client and reconciler are not loaded.
  if (!kubeconfig && !env.KUBERNETES_SERVICE_HOST) return undefined;
  const what = kubeconfig ? `--kubeconfig ${kubeconfig}` : 'the in-cluster service account';
  try {
    const { Cluster } = await import('./reconcile/cluster.js');
    // loading checks the current context, its cluster (an http(s) server) and user, and refuses unsupported fields
    const cluster = Cluster.connect(kubeconfig, env);
    if (!cluster) return undefined;
    await cluster.checkCredentials(); // reads the CA, client certificate, key and token files it names; runs an exec plugin
    return cluster;
  } catch (err) {
    throw new AirlockError('USAGE', `${what} cannot be used: ${errorMessage(err)}`);
  }
}

/** The --admin-password-file password, read and checked before anything is written. */
async function readPasswordFile(file: string): Promise<{ file: string; text: string }> {
  const text = (await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new AirlockError('USAGE', `--admin-password-file ${file}: ${err.code ?? err.message}`);
  })).replace(/\r?\n$/, '');
  const problem = passwordProblem(text);
  if (problem) throw new AirlockError('USAGE', `--admin-password-file ${file}: ${problem}`);
  return { file, text };
}
