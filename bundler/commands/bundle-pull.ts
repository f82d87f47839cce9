import { type Command, STDIO, UsageError, stringOpt, writeJson } from '../../src/command.js';
import { createProgress } from '../../src/progress.js';
import { formatBytes } from '../../src/units.js';
import { streamOutput } from '../../src/bundle/archive-output.js';
import { connectDepotFromFlags } from './depot-flags.js';
import { parseDepotRef } from '../../src/depot/layout.js';
import { pullBundle } from '../../src/depot/pull.js';
import { statementVerifier, unverifiedStatement } from '../../keys/statement-verifier.js';
import { loadTrustRoot, readTrustRootFile } from '../../keys/trust-root.js';

export const bundlePull: Command = {
  path: ['bundle', 'pull'],
  summary: 'rebuild a pushed bundle from an OCI registry (a depot), byte for byte',
  help: `Usage: airlock bundle pull oci://HOST/REPO:CHANNEL|oci://HOST/REPO@sha256:… -o OUT.airlock|-
                            [--trust root.json] [--plain-http] [--cacert CA.pem] [--insecure] [--json]

Resolves the channel tag to a bundle root, finds the signature that airlock bundle push stored as
its referrer, and (with --trust) checks it against the trust root before any blob is fetched.
Then every manifest and blob is fetched, each checked against its digest as it streams, and the
archive is rebuilt in the bundle format's fixed order: the file is byte-identical to the one
pushed (its sha256 is checked against the one recorded at push). OUT appears only when complete
and checked; a failure leaves nothing behind. A stick and the depot are interchangeable.
Registry credentials come from your Docker config.json; HTTPS unless the host is loopback (and neither
--cacert nor --insecure is given) or --plain-http is given.

Options:
  -o, --out FILE   the bundle to write; - streams it to standard output (a failure there ends the
                   stream short, which no verify or import accepts)
  --trust FILE     refuse a release whose signatures or expiry this trust root does not accept
  --plain-http     speak plain HTTP to a registry that is not on loopback
  --cacert FILE    also trust the CA certificates in this PEM file (repeatable)
  --insecure       do not verify the registry's TLS certificate
  --json           print the result as JSON`,
  options: {
    out: { type: 'string', short: 'o' },
    trust: { type: 'string' },
    'plain-http': { type: 'boolean' },
    cacert: { type: 'string', multiple: true },
    insecure: { type: 'boolean' },
  },
  positionals: [{ name: 'oci://HOST/REPO:CHANNEL', required: true }],
  async run(values, positionals, ctx) {
    const source = positionals[0];
    if (!source) throw new UsageError('give the depot and channel: airlock bundle pull oci://HOST/REPO:CHANNEL -o FILE');
    const ref = parseDepotRef(source);
    const reference = ref.digest ?? ref.tag;
    if (!reference) throw new UsageError(`${source}: name the channel to pull, e.g. ${source}:stable`);
    const out = stringOpt(values, 'out', true);
    const toStdout = out === STDIO;
    if (toStdout && ctx.json) throw new UsageError('-o - puts the bundle itself on standard output, where --json would print too: give -o a file name for --json');
    if (toStdout && (ctx.stdout as { isTTY?: boolean }).isTTY) throw new UsageError('-o - would write the binary bundle to your terminal: pipe it (| …) or redirect it (> FILE)');
    const trustPath = stringOpt(values, 'trust');
    const trust = trustPath
      ? loadTrustRoot(await readTrustRootFile(trustPath), ctx.now(), trustPath)
      : undefined;
    const { repo, close } = await connectDepotFromFlags(ref, values);
    const progress = createProgress({ stream: ctx.stderr, enabled: ctx.interactive && !ctx.json, label: 'pulling' });
    try {
      const result = await pullBundle({
        repo,
        reference,
        out,
        ...(toStdout ? { output: streamOutput(ctx.stdout) } : {}),
        verifyStatement: trust ? statementVerifier({ trust, now: ctx.now() }) : unverifiedStatement,
        onPlan: (total) => progress.setTotal(total),
        onBytes: (n) => progress.add(n),
      });
      progress.done();
      const { statement } = result;
      if (ctx.json) writeJson(ctx, { path: out, size: result.size, sha256: result.sha256, root: result.root, channel: statement.channel, sequence: statement.sequence, verified: trust !== undefined, signers: result.signers });
      else {
        (toStdout ? ctx.stderr : ctx.stdout).write(
          `wrote ${toStdout ? 'standard output' : out} (${formatBytes(result.size)}, sha256 ${result.sha256}): channel ${statement.channel}, sequence ${statement.sequence}, root ${result.root}` +
            `${trust ? `, signed by ${result.signers.join(', ')}` : ' (signature not checked: give --trust)'}\n`,
        );
      }
    } finally {
      close();
    }
  },
};
