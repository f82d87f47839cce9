import { type Command, UsageError, stringOpt, writeJson } from '../../src/command.js';
import { createProgress } from '../../src/progress.js';
import { formatBytes } from '../../src/units.js';
import { scanBundle } from '../../src/depot/bundle-source.js';
import { connectDepotFromFlags } from './depot-flags.js';
import { parseDepotRef } from '../../src/depot/layout.js';
import { pushBundle } from '../../src/depot/push.js';
import { unverifiedPartsIndex, verifyPartsIndex } from '../../keys/parts.js';
import { statementVerifier, unverifiedStatement } from '../../keys/statement-verifier.js';
import { loadTrustRoot, readTrustRootFile } from '../../keys/trust-root.js';

export const bundlePush: Command = {
  path: ['bundle', 'push'],
  summary: 'push a bundle to an OCI registry (a depot) and move its channel tag',
  help: `Usage: airlock bundle push FILE|PARTS_DIR|NAME.parts.json oci://HOST/REPO
                            [--trust root.json] [--mount-from REPO] [--plain-http]
                            [--cacert CA.pem] [--insecure] [--json]

Reads the bundle once, checking every digest (and each split part's sha256), then pushes it to
the repository: every blob and manifest (what the registry already has is skipped; with
--mount-from, blobs another repository of the registry holds are mounted, not uploaded), the
signature as an artifact whose subject is the bundle's root (OCI 1.1 referrers, or the
sha256-<hex> referrers tag where the registry has no referrers API), and only then moves the tag
named after the statement's channel to the root. A push that fails leaves the channel tag where
it was. airlock bundle pull rebuilds the same file, byte for byte.
Registry credentials come from your Docker config.json, as for bundle create. HTTPS unless the
host is loopback (and neither --cacert nor --insecure is given) or --plain-http is given.
HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured (loopback registries are never proxied).

Options:
  --trust FILE         also check the statement's signatures and expiry against this trust root
                       before pushing (default: the bundle's digests only)
  --mount-from REPO    a repository on the same registry to mount shared blobs from
  --plain-http         speak plain HTTP to a registry that is not on loopback
  --cacert FILE        also trust the CA certificates in this PEM file (repeatable)
  --insecure           do not verify the registry's TLS certificate
  --json               print the result as JSON`,
  options: {
    trust: { type: 'string' },
    'mount-from': { type: 'string' },
    'plain-http': { type: 'boolean' },
    cacert: { type: 'string', multiple: true },
    insecure: { type: 'boolean' },
  },
  positionals: [
    { name: 'FILE|PARTS_DIR|NAME.parts.json', required: true },
    { name: 'oci://HOST/REPO', required: true },
  ],
  async run(values, positionals, ctx) {
    const [file, target] = positionals;
    if (!file || !target) throw new UsageError('give the bundle and the depot: airlock bundle push FILE oci://HOST/REPO');
    const ref = parseDepotRef(target);
    if (ref.digest) throw new UsageError(`${target}: push to a repository (oci://HOST/REPO), not a digest`);
    const trustPath = stringOpt(values, 'trust');
    const trust = trustPath
      ? loadTrustRoot(await readTrustRootFile(trustPath), ctx.now(), trustPath)
      : undefined;
    const check = trust ? statementVerifier({ trust, now: ctx.now() }) : unverifiedStatement;
    const bundle = await scanBundle({
      path: file,
      verifyStatement: (text) => check(text),
      readIndex: (text, label) => (trust ? verifyPartsIndex(text, trust, label) : unverifiedPartsIndex(text, label)),
    });
    if (ref.tag && ref.tag !== bundle.contents.statement.channel) {
      throw new UsageError(`${target} names tag "${ref.tag}", but this bundle is for channel "${bundle.contents.statement.channel}": the channel tag is the statement's; give oci://HOST/REPO`);
    }
    const { repo, close } = await connectDepotFromFlags(ref, values);
    const progress = createProgress({ stream: ctx.stderr, enabled: ctx.interactive && !ctx.json, label: 'pushing' });
    progress.setTotal(bundle.size);
    try {
      const mountFrom = stringOpt(values, 'mount-from');
      const result = await pushBundle({ bundle, repo, ...(mountFrom ? { mountFrom } : {}), onBytes: (n) => progress.add(n) });
      progress.done();
      const where = `${ref.registry}/${ref.repository}`;
      if (ctx.json) writeJson(ctx, { repository: where, size: bundle.size, sha256: bundle.sha256, ...result });
      else {
        ctx.stdout.write(
          `pushed ${file} to ${where}: ${result.uploaded} blob(s) uploaded (${formatBytes(result.uploadedBytes)}), ${result.skipped} already there or mounted; ` +
            `signature ${result.signature} (referrers ${result.referrers === 'api' ? 'API' : `tag ${result.root.replace(':', '-')}`}); ` +
            `tag ${result.channel} -> ${result.root} (sequence ${result.sequence})\n`,
        );
      }
    } finally {
      close();
    }
  },
};
