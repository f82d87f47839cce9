import { type Command, UsageError, intOpt, listOpt, stringOpt, writeJson } from '../../src/command.js';
import { createProgress } from '../../src/progress.js';
import { loadDockerCredentials } from '../../src/registry/credentials.js';
import { formatBytes } from '../../src/units.js';
import { readSecretKey } from '../../keys/key-file.js';
import { loadSpec } from '../spec.js';

export const bundleCreate: Command = {
  path: ['bundle', 'create'],
  summary: 'build a signed bundle from a spec file',
  help: `Usage: airlock bundle create -f airlock.yaml --key K.key [--key …] -o OUT.airlock
                            [--sequence N] [--expires 30d] [--json]

Collects the spec's manifests, Git snapshots and images, signs a statement over the bundle's root
with every --key, and streams each layer from its registry straight into the archive (nothing is
staged on disk). OUT appears only when the bundle is complete; a failure leaves nothing behind.
Registry credentials come from your Docker config.json ($DOCKER_CONFIG or ~/.docker).

Options:
  -f, --file FILE      the bundle spec (airlock.yaml)
  --key FILE           secret release key to sign with (repeatable)
  -o, --out FILE       the bundle to write
  --sequence N         the statement's sequence (default: the current time in seconds)
  --expires DURATION   the statement's lifetime, e.g. 30d (default: the spec's expires, else none)
  --base FILE          build a delta against an earlier bundle or site receipt (not yet available)
  --split-size SIZE    split the output into parts for removable media (not yet available)
  --json               print the result as JSON`,
  options: {
    file: { type: 'string', short: 'f' },
    key: { type: 'string', multiple: true },
    out: { type: 'string', short: 'o' },
    sequence: { type: 'string' },
    expires: { type: 'string' },
    base: { type: 'string' },
    'split-size': { type: 'string' },
  },
  async run(values, _positionals, ctx) {
    const specPath = stringOpt(values, 'file', true);
    const out = stringOpt(values, 'out', true);
    const keyPaths = listOpt(values, 'key');
    if (!keyPaths.length) throw new UsageError('at least one --key is required to sign the bundle');
    for (const flag of ['base', 'split-size']) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} is not available in this version of airlock yet`);
    }
    const sequence = intOpt(values, 'sequence');
    const expires = stringOpt(values, 'expires');
    const spec = await loadSpec(specPath);
    const keys = await Promise.all(keyPaths.map(readSecretKey));
    const credentials = await loadDockerCredentials();
    const progress = createProgress({ stream: ctx.stderr, enabled: ctx.interactive && !ctx.json, label: 'writing' });
    // Loaded on use: the build path pulls in isomorphic-git, which other commands do not need.
    const { buildBundle } = await import('../build.js');
    const result = await buildBundle({
      spec,
      keys,
      out,
      ...(sequence !== undefined ? { sequence } : {}),
      ...(expires !== undefined ? { expires } : {}),
      now: ctx.now(),
      credentials,
      onEvent: (e) => {
        if (e.type === 'step') progress.message(e.message);
        else if (e.type === 'plan') progress.setTotal(e.totalBytes);
        else progress.add(e.n);
      },
    });
    progress.done();
    if (ctx.json) {
      writeJson(ctx, { path: result.path, size: result.size, statement: result.statement, images: result.images, git: result.git, manifests: result.manifests });
    } else {
      ctx.stdout.write(
        `wrote ${result.path} (${formatBytes(result.size)}): ${result.images.length} image(s), ${result.git.length} git snapshot(s), ` +
          `${result.manifests.length} manifest set(s); channel ${result.statement.channel}, sequence ${result.statement.sequence}, root ${result.statement.root.digest}\n`,
      );
    }
  },
};
