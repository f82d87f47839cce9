import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Command, UsageError, stringOpt } from '../../src/command.js';
import { AirlockError } from '../../src/errors.js';
import { loadDockerCredentials } from '../../src/registry/credentials.js';
import { parseDuration } from '../../src/units.js';
import { loadTrustRoot } from '../../keys/trust-root.js';
import { envFailpoint, jsonLogger } from '../context.js';

export const applianceServe: Command = {
  path: ['appliance', 'serve'],
  summary: 'run the on-site appliance (import, registry, Git mirror, cluster reconcile)',
  help: `Usage: airlock appliance serve --data DIR --trust root.json [--listen 127.0.0.1:8080] [--registry URL]
                               [--media DIR] [--channel NAME] [--pull-requires-token]
                               [--tls-cert F --tls-key F] [--kubeconfig FILE] [--interval 60s] [--self-heal]
                               [--force-conflicts] [--registry-host HOST:PORT] [--keep 3]

Web UI at /ui/ (accounts: viewer, operator, admin). Verifies bundles against the trust root before trusting a byte of them, stores their blobs, serves their
images at /v2/ (OCI distribution pull API) and their Git snapshots at /git/NAME.git (smart HTTP, read-only).
On first start writes DIR/admin-token (mode 0600): an API token with the admin role. Logs one JSON line per
event on stdout. Stops cleanly on SIGTERM or SIGINT.

Options:
  --data DIR              state, blobs and Git mirrors (created if missing)
  --trust FILE            the trust root (root.json)
  --listen HOST:PORT      where to listen (default 127.0.0.1:8080; port 0 picks a free one)
  --registry URL          also push every image into this registry (http://host:port for plain HTTP)
  --media DIR             allow imports of files under DIR ({"path": …} in POST /api/v1/imports)
  --channel NAME          accept only bundles of this channel (default: any channel)
  --pull-requires-token   require an API token for /v2 and /git (default: anonymous read)
  --tls-cert F, --tls-key F   serve HTTPS
  --kubeconfig FILE       reconcile this cluster (default: the in-cluster service account when running in a
                          pod; otherwise bundles are imported and served and the cluster is left alone)
  --interval DURATION     how often live objects are compared with the bundle (default 60s, ±10% jitter)
  --self-heal             re-apply drifted objects, taking fields back from whoever changed them
  --force-conflicts       when a sync meets fields another field manager owns, take them (default: report)
  --registry-host H:P     where the cluster pulls images from (default: --registry's host, else this address)
  --admin-password-file F the web UI's admin password, read at first start (default: a one-time setup link
                          is printed in the log)
  --keep N                releases held per channel for rollback (default 3; the bundle in force is always
                          one). After each applied import, older releases are dropped and blobs, Git objects
                          and partial uploads no held release needs are removed (also: airlock appliance gc)

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
    interval: { type: 'string' },
    'self-heal': { type: 'boolean' },
    'force-conflicts': { type: 'boolean' },
    'registry-host': { type: 'string' },
    'admin-password-file': { type: 'string' },
    keep: { type: 'string' },
  },
  async run(values, _positionals, ctx) {
    const dataDir = resolve(stringOpt(values, 'data', true));
    const trustPath = stringOpt(values, 'trust', true);
    const listen = stringOpt(values, 'listen') ?? '127.0.0.1:8080';
    const m = /^(.*):(\d+)$/.exec(listen);
    if (!m) throw new UsageError(`--listen must be HOST:PORT, not "${listen}"`);
    const certPath = stringOpt(values, 'tls-cert');
    const keyPath = stringOpt(values, 'tls-key');
    if (Boolean(certPath) !== Boolean(keyPath)) throw new UsageError('--tls-cert and --tls-key go together');
    const trustText = await readFile(trustPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new AirlockError('TRUST_ROOT_INVALID', `cannot read trust root ${trustPath}: ${err.code ?? err.message}`);
    });
    const log = jsonLogger((line) => ctx.stdout.write(line), ctx.now);
    const intervalText = stringOpt(values, 'interval') ?? '60s';
    const intervalMs = parseDuration(intervalText);
    if (intervalMs === undefined || intervalMs < 1000) throw new UsageError(`--interval "${intervalText}" is not a duration of at least 1s, like 60s or 5m`);
    const kubeconfig = stringOpt(values, 'kubeconfig');
    const keepText = stringOpt(values, 'keep') ?? '3';
    const keep = Number(keepText);
    if (!/^\d+$/.test(keepText) || keep < 1) throw new UsageError(`--keep "${keepText}" must be a whole number of releases, at least 1`);
    const { startAppliance } = await import('../server.js'); // express and SQLite load only for this command
    const appliance = await startAppliance({
      dataDir,
      trust: loadTrustRoot(trustText, ctx.now(), trustPath),
      host: (m[1] ?? '').replace(/^\[(.*)\]$/, '$1'),
      port: Number(m[2]),
      ...(stringOpt(values, 'media') ? { media: resolve(stringOpt(values, 'media') ?? '') } : {}),
      ...(stringOpt(values, 'registry') ? { registry: stringOpt(values, 'registry'), credentials: await loadDockerCredentials() } : {}),
      ...(stringOpt(values, 'channel') ? { channel: stringOpt(values, 'channel') } : {}),
      pullRequiresToken: values['pull-requires-token'] === true,
      ...(certPath && keyPath ? { tls: { cert: await readFile(certPath), key: await readFile(keyPath) } } : {}),
      ...(kubeconfig ? { kubeconfig: resolve(kubeconfig) } : {}),
      ...(stringOpt(values, 'admin-password-file') ? { adminPasswordFile: resolve(stringOpt(values, 'admin-password-file') ?? '') } : {}),
      intervalMs,
      keep,
      selfHeal: values['self-heal'] === true,
      forceConflicts: values['force-conflicts'] === true,
      ...(stringOpt(values, 'registry-host') ? { registryHost: stringOpt(values, 'registry-host') } : {}),
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
