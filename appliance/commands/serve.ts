import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { delimiter, resolve } from 'node:path';
import { Tools } from '../../src/charts/tools.js';
import { type Command, type OptionValues, UsageError, durationOpt, listOpt, stringOpt } from '../../src/command.js';
import { parseDepotRef } from '../../src/depot/layout.js';
import { AirlockError } from '../../src/errors.js';
import { RegistryAccess } from '../../src/registry/access.js';
import { loadDockerCredentials } from '../../src/registry/credentials.js';
import { INTERVAL_RANGE, type Range, boundedSize } from '../../src/units.js';
import type { DepotConfig } from '../depot/start.js';
import { readTrustRoot, readTrustRootFile } from '../../keys/trust-root.js';
import { envFailpoint, jsonLogger } from '../context.js';

export const applianceServe: Command = {
  path: ['appliance', 'serve'],
  summary: 'run the on-site appliance (import, registry, Git mirror, cluster reconcile)',
  help: `Usage: airlock appliance serve --data DIR --trust root.json [--listen 127.0.0.1:8080] [--registry URL]
                               [--media DIR] [--channel NAME] [--pull-requires-token]
                               [--tls-cert F --tls-key F] [--site FILE | --kubeconfig FILE] [--interval 60s] [--self-heal]
                               [--force-conflicts] [--registry-host HOST:PORT]
                               [--registry-cacert CA.pem] [--registry-insecure]
                               [--header-timeout 20s] [--body-idle-timeout 60s] [--max-connections-per-client 64]
                               [--keep 3] [--helm PATH] [--kustomize PATH]
                               [--depot oci://HOST/REPO --channel NAME [--depot-interval 5m] [--depot-rate 1MiB]
                                [--report-interval 10m] [--depot-plain-http] [--depot-cacert CA.pem] [--depot-insecure]]

Web UI at /ui/ (accounts: viewer, operator, admin). Verifies bundles against the trust root before trusting a byte of them, stores their blobs, serves their
images at /v2/ (OCI distribution pull API) and their Git snapshots at /git/NAME.git (smart HTTP, read-only).
On first start writes DIR/admin-token (mode 0600): an API token with the admin role. Logs one JSON line per
event on stdout. Stops cleanly on SIGTERM or SIGINT.

Options:
  --data DIR              state, blobs and Git mirrors (created if missing)
  --trust FILE            the trust root (root.json)
  --listen HOST:PORT      where to listen (default 127.0.0.1:8080; port 0 picks a free one)
  --registry URL          also push every image into this registry (http://host:port for plain HTTP;
                          credentials, credential helpers and HTTPS_PROXY/NO_PROXY as for bundle create)
  --registry-cacert FILE  also trust the CA certificates in this PEM file for --registry (repeatable)
  --registry-insecure     do not verify --registry's TLS certificate
  --media DIR             allow imports of files under DIR ({"path": …} in POST /api/v1/imports)
  --channel NAME          accept only bundles of this channel (default: any channel)
  --pull-requires-token   require an API token for /v2 and /git (default: anonymous read)
  --tls-cert F, --tls-key F   serve HTTPS
  --kubeconfig FILE       reconcile this cluster (default: the first file of $KUBECONFIG, else the in-cluster
                          service account when running in a pod; otherwise bundles are imported and served
                          and the cluster is left alone)
  --site FILE             the site file: the site's name, labels and values and the clusters it reconciles (each
                          channel on each cluster is a placement with its own loop); replaces --kubeconfig
  --interval DURATION     how often live objects are compared with the bundle (default 60s, ±10% jitter)
  --self-heal             re-apply drifted objects, taking fields back from whoever changed them
  --force-conflicts       when a sync meets fields another field manager owns, take them (default: report)
  --registry-host H:P     where the cluster pulls images from (default: --registry's host, else this address)
  --admin-password-file F the web UI's admin password, read at first start, and at any start that finds no
                          admin account (it restores \`admin\`); default: a one-time setup link in the log
  --header-timeout D      time a client has to send a request's headers (default 20s)
  --body-idle-timeout D   longest silence while a request body is being received (default 60s): a slow upload
                          that keeps sending is never cut, a stalled one is answered 408 and closed
  --max-connections-per-client N   concurrent connections from one address (default 64); more get a 503
  --keep N                releases held per channel for rollback (default 3; the bundle in force is always
                          one). After each applied import, older releases are dropped and blobs, Git objects
                          and partial uploads no held release needs are removed (also: airlock appliance gc)
  --helm PATH             helm for bundles with charts (default: helm on PATH)
  --kustomize PATH        kustomize, or kubectl (kubectl kustomize), for Kustomize sources (default: PATH)
  --depot oci://HOST/REPO take releases of --channel (required with it) from this registry: the channel tag is
                          polled; the signature is checked before any blob; only blobs not held here are fetched,
                          a cut-off one resumed with HTTP Range; then the same import as a stick. The signed
                          receipt goes back to REPO/sites/SITE:latest. Credentials from Docker's config.json
  --depot-interval D      how often the channel tag is polled (default 5m, ±10% jitter; failures back off)
  --depot-rate BYTES      at most this many bytes per second for blob downloads (metered links), e.g. 512KiB
  --report-interval D     how often the receipt is pushed to the depot besides after each apply (default 10m)
  --depot-plain-http      plain HTTP to the depot even when it is not on loopback
  --depot-cacert FILE     trust the CA certificates in this PEM file for the depot (repeatable; means HTTPS)
  --depot-insecure        do not verify the depot's TLS certificate (means HTTPS)

Every flag, file and the kubeconfig are checked, and the port bound, before anything is written to --data: a
bad one stops the start with the reason (exit 2) and leaves the data directory as it was.
Probes without sign-in: GET /healthz (the process serves) and GET /readyz (state database, data directory
writable, not stopping; 503 with the failed check otherwise).

Reconciling: after each import, the bundle's manifest sets and Git manifest paths are applied with server-side
apply (field manager "airlock", label airlock.dev/owner=CHANNEL), after a server-side dry run of the whole set;
objects the channel applied before and no longer wants are pruned. GET /api/v1/status and /api/v1/objects show
sync and health per channel and object.`,
  options: {
    data: { type: 'string' },
    trust: { type: 'string' },
    listen: { type: 'string' },
    registry: { type: 'string' },
    media: { type: 'string' },
    channel: { type: 'string' },
    'pull-requires-token': { type: 'boolean' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    kubeconfig: { type: 'string' },
    site: { type: 'string' },
    interval: { type: 'string' },
    'self-heal': { type: 'boolean' },
    'force-conflicts': { type: 'boolean' },
    'registry-host': { type: 'string' },
    'admin-password-file': { type: 'string' },
    'registry-cacert': { type: 'string', multiple: true },
    'registry-insecure': { type: 'boolean' },
    'header-timeout': { type: 'string' },
    'body-idle-timeout': { type: 'string' },
    'max-connections-per-client': { type: 'string' },
    keep: { type: 'string' },
    helm: { type: 'string' },
    kustomize: { type: 'string' },
    depot: { type: 'string' },
    'depot-interval': { type: 'string' },
    'depot-rate': { type: 'string' },
    'report-interval': { type: 'string' },
    'depot-plain-http': { type: 'boolean' },
    'depot-cacert': { type: 'string', multiple: true },
    'depot-insecure': { type: 'boolean' },
  },
  async run(values, _positionals, ctx) {
    const dataDir = resolve(stringOpt(values, 'data', true));
    const trustPath = stringOpt(values, 'trust', true);
    const listen = stringOpt(values, 'listen') ?? '127.0.0.1:8080';
    const m = /^(.*):(\d+)$/.exec(listen);
    if (!m || Number(m[2]) > 65535) throw new UsageError(`--listen must be HOST:PORT with a port from 0 to 65535, not "${listen}"`);
    const certPath = stringOpt(values, 'tls-cert');
    const keyPath = stringOpt(values, 'tls-key');
    if (Boolean(certPath) !== Boolean(keyPath)) throw new UsageError('--tls-cert and --tls-key go together');
    const trustText = await readTrustRootFile(trustPath);
    const log = jsonLogger((line) => ctx.stdout.write(line), ctx.now);
    const intervalMs = durationOpt(values, 'interval', INTERVAL_RANGE, '60s') ?? 60_000;
    const registryCacerts = listOpt(values, 'registry-cacert');
    const registryInsecure = values['registry-insecure'] === true;
    if ((registryCacerts.length || registryInsecure) && !stringOpt(values, 'registry')) throw new UsageError('--registry-cacert and --registry-insecure apply to --registry; there is no --registry');
    const registryAccess = stringOpt(values, 'registry') ? await RegistryAccess.load({ cacerts: registryCacerts, insecure: registryInsecure, env: process.env }) : undefined;
    const headersTimeoutMs = durationOpt(values, 'header-timeout', TIMEOUT_RANGE, '20s') ?? 20_000;
    const bodyIdleMs = durationOpt(values, 'body-idle-timeout', TIMEOUT_RANGE, '60s') ?? 60_000;
    const perClientText = stringOpt(values, 'max-connections-per-client') ?? '64';
    const perClient = Number(perClientText);
    if (!/^\d+$/.test(perClientText) || perClient < 1 || perClient > 100_000) throw new UsageError(`--max-connections-per-client must be a whole number from 1 to 100000, not "${perClientText}"`);
    const media = stringOpt(values, 'media');
    if (media && !(await stat(media).then((s) => s.isDirectory(), () => false))) throw new UsageError(`--media ${media} is not a directory`);
    const registry = stringOpt(values, 'registry');
    if (registry && !/^https?:\/\/[^/]+/.test(registry)) throw new UsageError(`--registry must be a URL like http://host:5000 or https://host, not "${registry}"`);
    const registryHost = stringOpt(values, 'registry-host');
    if (registryHost && !/^[^/\s:]+(:\d{1,5})?$|^\[[0-9a-f:]+\](:\d{1,5})?$/i.test(registryHost)) throw new UsageError(`--registry-host must be HOST or HOST:PORT, not "${registryHost}"`);
    // a handler of last resort: a stray rejection is logged, never the end of the process
    process.on('unhandledRejection', (reason) => log.error('unhandled rejection', { message: reason instanceof Error ? reason.message : String(reason), stack: reason instanceof Error ? reason.stack : undefined }));
    const sitePath = stringOpt(values, 'site');
    if (sitePath && stringOpt(values, 'kubeconfig')) throw new UsageError('--site and --kubeconfig do not go together: list the cluster in the site file');
    // Before anything listens: a bad site file stops the start, naming file and line.
    const site = sitePath ? await (await import('../reconcile/targets.js')).loadSiteFile(resolve(sitePath)) : undefined;
    const kubeconfig = site ? undefined : stringOpt(values, 'kubeconfig') ?? kubeconfigFromEnv(process.env);
    const keepText = stringOpt(values, 'keep') ?? '3';
    const keep = Number(keepText);
    if (!/^\d+$/.test(keepText) || keep < 1) throw new UsageError(`--keep "${keepText}" must be a whole number of releases, at least 1`);
    const depot = await depotConfig(values);
    const { startAppliance } = await import('../server.js'); // express and SQLite load only for this command
    const appliance = await startAppliance({
      dataDir,
      trust: readTrustRoot(trustText, trustPath), // an expired root still serves (ADR 010)
      host: (m[1] ?? '').replace(/^\[(.*)\]$/, '$1'),
      port: Number(m[2]),
      ...(media ? { media: resolve(media) } : {}),
      ...(registry && registryAccess ? { registry, credentials: await loadDockerCredentials(), registryTransport: registryAccess.transportFor('') } : {}),
      ...(stringOpt(values, 'channel') ? { channel: stringOpt(values, 'channel') } : {}),
      pullRequiresToken: values['pull-requires-token'] === true,
      ...(certPath && keyPath ? { tls: { cert: await readTls(certPath, '--tls-cert'), key: await readTls(keyPath, '--tls-key') } } : {}),
      ...(kubeconfig ? { kubeconfig: resolve(kubeconfig) } : {}),
      ...(site ? { site } : {}),
      ...(stringOpt(values, 'admin-password-file') ? { adminPasswordFile: resolve(stringOpt(values, 'admin-password-file') ?? '') } : {}),
      intervalMs,
      keep,
      tools: Tools.fromFlags(stringOpt(values, 'helm'), stringOpt(values, 'kustomize')),
      selfHeal: values['self-heal'] === true,
      forceConflicts: values['force-conflicts'] === true,
      ...(registryHost ? { registryHost } : {}),
      limits: { headersTimeoutMs, bodyIdleMs, perClient },
      ...(depot ? { depot } : {}),
      log,
      now: ctx.now,
      failpoint: envFailpoint(),
    });
    await new Promise<void>((resolveStop) => {
      const stop = (signal: string) => {
        log.info('stopping', { signal });
        appliance.close().then(resolveStop, resolveStop);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  },
};

/** `$KUBECONFIG` as kubectl reads it, a list of files: the first one that exists (kubectl skips missing ones). */
function kubeconfigFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const paths = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (!paths.length) return undefined;
  const found = paths.find((p) => existsSync(p));
  if (!found) throw new AirlockError('KUBE_UNREACHABLE', `KUBECONFIG names no file that exists (${paths.join(delimiter)}); fix KUBECONFIG or give --kubeconfig FILE`);
  return found;
}

/** The `--depot*` flags, checked (the CA files are read when the depot is connected, before anything is written). */
async function depotConfig(values: OptionValues): Promise<DepotConfig | undefined> {
  const url = stringOpt(values, 'depot');
  const cacerts = listOpt(values, 'depot-cacert');
  const flags = ['depot-interval', 'depot-rate', 'report-interval', 'depot-plain-http', 'depot-cacert', 'depot-insecure'].filter((f) => values[f] !== undefined && !(Array.isArray(values[f]) && (values[f] as unknown[]).length === 0));
  if (!url) {
    if (flags.length) throw new UsageError(`--${flags[0] ?? ''} applies to --depot; there is no --depot`);
    return undefined;
  }
  try {
    parseDepotRef(url);
  } catch (err) {
    throw new UsageError(`--depot: ${(err as Error).message}`);
  }
  if (/:[^/]*$/.test(url.slice('oci://'.length).replace(/^[^/]*/, '')) || url.includes('@')) throw new UsageError(`--depot names the repository only (oci://HOST/REPO); the tag is --channel`);
  if (!stringOpt(values, 'channel')) throw new UsageError('--depot needs --channel NAME: the channel tag polled in the depot');
  if (values['depot-plain-http'] === true && (cacerts.length || values['depot-insecure'] === true)) throw new UsageError('--depot-plain-http does not go with --depot-cacert or --depot-insecure (those mean HTTPS)');
  const rateText = stringOpt(values, 'depot-rate');
  let rate: number | undefined;
  if (rateText !== undefined) {
    const n = boundedSize(rateText.replace(/\/s$/, ''), '--depot-rate', RATE_RANGE);
    if (n instanceof Error) throw new UsageError(n.message);
    rate = n;
  }
  return {
    url,
    intervalMs: durationOpt(values, 'depot-interval', INTERVAL_RANGE, '5m') ?? 300_000,
    reportIntervalMs: durationOpt(values, 'report-interval', INTERVAL_RANGE, '10m') ?? 600_000,
    ...(rate ? { rate } : {}),
    plainHttp: values['depot-plain-http'] === true,
    cacerts,
    insecure: values['depot-insecure'] === true,
    credentials: await loadDockerCredentials(),
    env: process.env,
  };
}

/** --depot-rate: from 1 KiB/s. */
const RATE_RANGE: Range = { min: '1KiB', max: '100GiB', example: '1MiB' };

/** Header and body-idle timeouts: from a second to a day. */
const TIMEOUT_RANGE: Range = { min: '1s', max: '24h', example: '20s' };

async function readTls(path: string, flag: string): Promise<Buffer> {
  return readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`${flag} ${path}: ${err.code ?? err.message}`);
  });
}
