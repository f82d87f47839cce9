import { type Command, UsageError, listOpt, stringOpt, writeJson } from '../../src/command.js';
import { createProgress } from '../../src/progress.js';
import { formatBytes } from '../../src/units.js';
import { readPublicKey } from '../../keys/key-file.js';
import { loadTrustRoot, readTrustRootFile } from '../../keys/trust-root.js';
import { renderSummary } from '../report.js';
import { type VerifyReport, verifyBundleFile } from '../verify.js';

export const bundleVerify: Command = {
  path: ['bundle', 'verify'],
  summary: 'check every byte of a bundle against a trust root',
  help: `Usage: airlock bundle verify FILE|PARTS_DIR|NAME.parts.json|- --trust root.json
                            [--base PREVIOUS.airlock|RECEIPT.json [--appliance-key SITE.pub]] [--json]

Reads every byte of the bundle once, without extracting it: checks the statement's signatures
against the trust root's release keys and threshold, its expiry, then every entry, size and
digest. Exits 0 only if every byte checks out; otherwise 1 with the reason, naming the first bad
blob of the archive. A FILE's large blobs are read at their offsets and hashed side by side, one
per core; - reads the bundle from standard input as it arrives, front to back (e.g. curl … |
airlock bundle verify - --trust root.json; also the way to read it strictly in order).

Split bundles (bundle create --split-size): give the directory holding the parts, or the
NAME.parts.json index. The index's signature is checked first, then that every part is there
with its size, then each part's sha256 as the parts are read in the index's order; a failure
names the missing, truncated, swapped or foreign part.

Deltas (bundle create --base): every byte the delta carries is checked the same way, and the blobs
and Git commits it leaves out for its base to provide are listed. With --base, the base is
checked to hold every one of them (exit 1 naming those it lacks).

Options:
  --trust FILE          the trust root (root.json) to verify against (required)
  --base FILE           for a delta: the bundle it was built against (file, parts directory or
                        parts index) or a site receipt (airlock appliance receipt), which must hold
                        every blob and commit the delta leaves out
  --appliance-key FILE  the appliance's public key that must have signed a receipt given as --base
                        (repeatable)
  --json                print the verification report as JSON`,
  options: { trust: { type: 'string' }, base: { type: 'string' }, 'appliance-key': { type: 'string', multiple: true } },
  positionals: [{ name: 'FILE|PARTS_DIR|NAME.parts.json|-', required: true }],
  async run(values, positionals, ctx) {
    const file = positionals[0];
    if (!file) throw new UsageError('the bundle FILE is required');
    const trustPath = stringOpt(values, 'trust', true);
    const basePath = stringOpt(values, 'base');
    const applianceKeyPaths = listOpt(values, 'appliance-key');
    if (applianceKeyPaths.length && !basePath) throw new UsageError('--appliance-key verifies a receipt given as --base; there is no --base');
    const trustText = await readTrustRootFile(trustPath);
    const trust = loadTrustRoot(trustText, ctx.now(), trustPath);
    // The base is read first: a wrong --base fails before a long bundle is read.
    const base = basePath
      ? await (await import('../base.js')).loadBase({ path: basePath, applianceKeys: await Promise.all(applianceKeyPaths.map(readPublicKey)) })
      : undefined;
    const progress = createProgress({ stream: ctx.stderr, enabled: ctx.interactive && !ctx.json, label: 'verifying' });
    const report = await verifyBundleFile({
      path: file,
      trust,
      now: ctx.now(),
      stdin: ctx.stdin,
      ...(base ? { base } : {}),
      onProgress: (position, total) => {
        progress.setTotal(total);
        progress.update(position);
      },
    });
    progress.done();
    if (ctx.json) writeJson(ctx, report);
    else {
      const named = { ...report, signers: report.signers.map((id) => (report.signerNames[id] ? `${id} (${report.signerNames[id]})` : id)) };
      const parts = report.parts ? ` (${report.parts.length} parts, each matching its signed index)` : '';
      ctx.stdout.write(`${file === '-' ? 'standard input' : file}: verified${parts}\n${renderSummary(named, 'signed by:')}${deltaLines(report)}`);
    }
  },
};

function deltaLines({ delta }: VerifyReport): string {
  if (!delta) return '';
  const against = delta.base ? `bundle ${delta.base}` : `the receipt of appliance ${delta.baseSite ?? ''}`;
  const commits = delta.git.reduce((n, g) => n + g.prerequisites.length, 0);
  const lines = [`delta of ${against}: ${delta.blobs.length} blob(s), ${formatBytes(delta.bytes)}, and ${commits} Git commit(s) are expected from the base`];
  lines.push(delta.checkedAgainst ? `  the base ${delta.checkedAgainst} holds all of them` : '  (not checked: give --base to check a base holds them)');
  return `${lines.join('\n')}\n`;
}
