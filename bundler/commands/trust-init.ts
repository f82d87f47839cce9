import { writeFileAtomic } from '../../src/fs-atomic.js';
import { type Command, UsageError, durationOpt, intOpt, listOpt, stringOpt, writeJson } from '../../src/command.js';
import { LIFETIME_RANGE } from '../../src/units.js';
import { readPublicKey, readSecretKey } from '../../keys/key-file.js';
import { buildTrustRoot, signTrustRoot } from '../../keys/trust-root.js';

export const trustInit: Command = {
  path: ['trust', 'init'],
  summary: 'create a signed trust root (root.json)',
  help: `Usage: airlock trust init --root-key A.pub [--root-key …] --release-key B.pub [--release-key …]
                          [--root-threshold N] [--release-threshold N] [--expires 365d]
                          --sign A.key [--sign …] --out root.json

A trust root names the root keys (which sign trust roots) and the release keys (which sign bundles),
a threshold for each, a version and an expiry. It must be signed by a threshold of its root keys.
Appliances accept a bundle only if a threshold of release keys signed it.

Options:
  --root-key FILE           public key of a root key (repeatable, at least one)
  --release-key FILE        public key of a release key (repeatable, at least one)
  --root-threshold N        root signatures required (default 1)
  --release-threshold N     release signatures required on a bundle (default 1)
  --expires DURATION        lifetime, from 1m to 100y, e.g. 365d (default 365d)
  --version N               trust root version (default 1)
  --sign FILE               secret root key to sign with (repeatable)
  --out FILE                where to write root.json (required)`,
  options: {
    'root-key': { type: 'string', multiple: true },
    'release-key': { type: 'string', multiple: true },
    'root-threshold': { type: 'string' },
    'release-threshold': { type: 'string' },
    expires: { type: 'string' },
    version: { type: 'string' },
    sign: { type: 'string', multiple: true },
    out: { type: 'string' },
  },
  async run(values, _positionals, ctx) {
    const out = stringOpt(values, 'out', true);
    const rootPaths = listOpt(values, 'root-key');
    const releasePaths = listOpt(values, 'release-key');
    const signPaths = listOpt(values, 'sign');
    if (!rootPaths.length) throw new UsageError('at least one --root-key is required');
    if (!releasePaths.length) throw new UsageError('at least one --release-key is required');
    if (!signPaths.length) throw new UsageError('at least one --sign key is required');
    const lifetime = durationOpt(values, 'expires', LIFETIME_RANGE, '365d') ?? 0;

    const rootKeys = await Promise.all(rootPaths.map(readPublicKey));
    const releaseKeys = await Promise.all(releasePaths.map(readPublicKey));
    const signers = await Promise.all(signPaths.map(readSecretKey));
    const root = buildTrustRoot({
      rootKeys,
      releaseKeys,
      rootThreshold: intOpt(values, 'root-threshold', { min: 1, max: rootKeys.length }) ?? 1,
      releaseThreshold: intOpt(values, 'release-threshold', { min: 1, max: releaseKeys.length }) ?? 1,
      version: intOpt(values, 'version', { min: 1 }) ?? 1,
      expires: new Date(ctx.now().getTime() + lifetime),
    });
    const rootIds = new Set(root.roles.root.keyids);
    const counted = new Set(signers.filter((s) => rootIds.has(s.keyid)).map((s) => s.keyid));
    if (counted.size < root.roles.root.threshold) {
      throw new UsageError(`the trust root needs ${root.roles.root.threshold} root signature(s); --sign gave ${counted.size} root key(s)`);
    }
    await writeFileAtomic(out, signTrustRoot(root, signers));
    if (ctx.json) writeJson(ctx, { out, version: root.version, expires: root.expires, roles: root.roles });
    else ctx.stdout.write(`wrote ${out}: version ${root.version}, ${root.roles.root.keyids.length} root key(s), ${root.roles.release.keyids.length} release key(s), expires ${root.expires}\n`);
  },
};
