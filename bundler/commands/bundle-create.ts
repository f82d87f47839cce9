import { Tools } from '../../src/charts/tools.js';
import { type Command, type CommandContext, STDIO, UsageError, durationOpt, intOpt, listOpt, sizeOpt, stringOpt, writeJson } from '../../src/command.js';
import { createProgress } from '../../src/progress.js';
import { loadDockerCredentials } from '../../src/registry/credentials.js';
import { LIFETIME_RANGE, PART_SIZE_RANGE, formatBytes } from '../../src/units.js';
import { readPublicKey, readSecretKey } from '../../keys/key-file.js';
import { loadSpec } from '../spec.js';

export const bundleCreate: Command = {
  path: ['bundle', 'create'],
  summary: 'build a signed bundle from a spec file',
  help: `Usage: airlock bundle create -f airlock.yaml --key K.key [--key …] -o OUT.airlock|-
                            [--sequence N] [--expires 30d]
                            [--base PREVIOUS.airlock|RECEIPT.json [--appliance-key SITE.pub]]
                            [--split-size 4GiB] [--cacert CA.pem] [--insecure] [--helm PATH] [--json]

Collects the spec's manifests, Git snapshots and images, signs a statement over the bundle's root
with every --key, and streams each layer from its registry straight into the archive (nothing is
staged on disk). OUT appears only when the bundle is complete; a failure leaves nothing behind.
Registry credentials come from your Docker config.json ($DOCKER_CONFIG or ~/.docker): its
credHelpers and credsStore run docker-credential-NAME, as docker does; auths entries are read.
HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured (loopback registries are never proxied).

Options:
  -f, --file FILE      the bundle spec (airlock.yaml)
  --key FILE           secret release key to sign with (repeatable)
  -o, --out FILE       the bundle to write; - streams it to standard output as it is made (then the
                       summary goes to stderr; not with --split-size or --json). A failure there
                       ends the stream short, which no verify or import accepts
  --sequence N         the statement's sequence (default: the current time in seconds)
  --expires DURATION   the statement's lifetime, from 1m to 100y, e.g. 30d (default: the spec's
                       expires, else none)
  --base FILE          build a delta: leave out every layer and Git object the base holds. FILE is an
                       earlier bundle of this channel (file, parts directory or parts index) or a
                       site receipt (airlock appliance receipt). Layers are compared one by one, so
                       a new image that shares layers with an old one carries only its new layers;
                       Git snapshots carry only commits the base lacks (a git bundle whose
                       prerequisites are the base's commits). The statement names the base.
  --appliance-key FILE the appliance's public key (DATA/appliance.pub) that must have signed a
                       receipt given as --base (repeatable, e.g. one per site)
  --split-size SIZE    write parts of SIZE bytes (1KiB to 16TiB, e.g. 4GiB, 700MiB) for removable media:
                       OUT.000, OUT.001, … and OUT.parts.json, the signed list of each part's size
                       and sha256; verify and import take the directory or OUT.parts.json
  --cacert FILE        also trust the CA certificates in this PEM file for every registry (repeatable;
                       per registry: registries.HOST.cacert in the spec)
  --insecure           do not verify registries' TLS certificates (per registry: registries.HOST.insecure)
  --helm PATH          the helm binary for the spec's charts (default: helm on PATH; needed only with charts)
  --json               print the result as JSON`,
  options: {
    file: { type: 'string', short: 'f' },
    key: { type: 'string', multiple: true },
    out: { type: 'string', short: 'o' },
    sequence: { type: 'string' },
    expires: { type: 'string' },
    base: { type: 'string' },
    'appliance-key': { type: 'string', multiple: true },
    'split-size': { type: 'string' },
    cacert: { type: 'string', multiple: true },
    insecure: { type: 'boolean' },
    helm: { type: 'string' },
  },
  async run(values, _positionals, ctx) {
    const specPath = stringOpt(values, 'file', true);
    const out = stringOpt(values, 'out', true);
    const keyPaths = listOpt(values, 'key');
    if (!keyPaths.length) throw new UsageError('at least one --key is required to sign the bundle');
    const splitSize = sizeOpt(values, 'split-size', PART_SIZE_RANGE);
    const toStdout = out === STDIO;
    if (toStdout && splitSize !== undefined) throw new UsageError('-o - streams one archive to standard output; --split-size writes files: give -o a file name to split');
    if (toStdout && ctx.json) throw new UsageError('-o - puts the bundle itself on standard output, where --json would print too: give -o a file name for --json');
    if (toStdout && (ctx.stdout as { isTTY?: boolean }).isTTY) throw new UsageError('-o - would write the binary bundle to your terminal: pipe it (| …) or redirect it (> FILE)');
    const basePath = stringOpt(values, 'base');
    const applianceKeyPaths = listOpt(values, 'appliance-key');
    if (applianceKeyPaths.length && !basePath) throw new UsageError('--appliance-key verifies a receipt given as --base; there is no --base');
    const sequence = intOpt(values, 'sequence');
    const expires = stringOpt(values, 'expires');
    durationOpt(values, 'expires', LIFETIME_RANGE);
    const spec = await loadSpec(specPath);
    const keys = await Promise.all(keyPaths.map(readSecretKey));
    const credentials = await loadDockerCredentials();
    const base = basePath
      ? await (await import('../base.js')).loadBase({ path: basePath, channel: spec.channel, applianceKeys: await Promise.all(applianceKeyPaths.map(readPublicKey)) })
      : undefined;
    if (base) progressNote(ctx, `delta against ${base.description}: ${base.blobs.size} blob(s) held there are left out`);
    const progress = createProgress({ stream: ctx.stderr, enabled: ctx.interactive && !ctx.json, label: 'writing' });
    // Loaded on use: the build path pulls in isomorphic-git, which other commands do not need.
    const { buildBundle } = await import('../build.js');
    const result = await buildBundle({
      spec,
      keys,
      out,
      ...(toStdout ? { stdout: ctx.stdout } : {}),
      ...(sequence !== undefined ? { sequence } : {}),
      ...(expires !== undefined ? { expires } : {}),
      now: ctx.now(),
      credentials,
      access: { cacerts: listOpt(values, 'cacert'), insecure: values.insecure === true, env: process.env },
      ...(base ? { base } : {}),
      ...(splitSize ? { splitSize } : {}),
      tools: new Tools({ ...(stringOpt(values, 'helm') ? { helm: stringOpt(values, 'helm') } : {}) }),
      onEvent: (e) => {
        if (e.type === 'step') progress.message(e.message);
        else if (e.type === 'plan') progress.setTotal(e.totalBytes);
        else progress.add(e.n);
      },
    });
    progress.done();
    if (ctx.json) {
      writeJson(ctx, {
        path: result.path,
        size: result.size,
        statement: result.statement,
        images: result.images.map((i) => ({ ref: i.name, digest: i.digest })),
        git: result.git,
        manifests: result.manifests.map((name) => ({ name })),
        leftOut: result.leftOut,
        ...(result.parts ? { parts: result.parts } : {}),
      });
    } else {
      // With -o -, standard output carries the bundle: the summary goes to stderr.
      const report = toStdout ? ctx.stderr : ctx.stdout;
      report.write(
        `wrote ${toStdout ? 'standard output' : result.path} (${formatBytes(result.size)}): ${result.images.length} image(s), ${result.git.length} git snapshot(s), ` +
          `${result.manifests.length} manifest set(s); channel ${result.statement.channel}, sequence ${result.statement.sequence}, root ${result.statement.root.digest}\n`,
      );
      if (base) report.write(`delta: left out ${result.leftOut.blobs} blob(s), ${formatBytes(result.leftOut.bytes)}, that the base holds\n`);
      if (result.parts) report.write(`split into ${result.parts.parts.length} part(s): ${result.parts.parts.map((p) => `${p.name} (${formatBytes(p.size)})`).join(', ')}\n`);
    }
  },
};

function progressNote(ctx: CommandContext, line: string): void {
  if (!ctx.json) ctx.stderr.write(`${line}\n`);
}
