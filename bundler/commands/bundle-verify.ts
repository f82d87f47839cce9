import { readFile } from 'node:fs/promises';
import { type Command, UsageError, stringOpt, writeJson } from '../../src/command.js';
import { AirlockError } from '../../src/errors.js';
import { createProgress } from '../../src/progress.js';
import { loadTrustRoot } from '../../keys/trust-root.js';
import { renderSummary } from '../report.js';
import { verifyBundleFile } from '../verify.js';

export const bundleVerify: Command = {
  path: ['bundle', 'verify'],
  summary: 'check every byte of a bundle against a trust root',
  help: `Usage: airlock bundle verify FILE|PARTS_DIR|NAME.parts.json --trust root.json [--json]

Reads the bundle once, front to back, without extracting it: checks the statement's signatures
against the trust root's release keys and threshold, its expiry, then every entry, size and
digest. Exits 0 only if every byte checks out; otherwise 1 with the reason.

Split bundles (bundle create --split-size): give the directory holding the parts, or the
NAME.parts.json index. The index's signature is checked first, then that every part is there
with its size, then each part's sha256 as the parts are read in the index's order; a failure
names the missing, truncated, swapped or foreign part.

Options:
  --trust FILE   the trust root (root.json) to verify against (required)
  --json         print the verification report as JSON`,
  options: { trust: { type: 'string' } },
  positionals: [{ name: 'FILE|PARTS_DIR|NAME.parts.json', required: true }],
  async run(values, positionals, ctx) {
    const file = positionals[0];
    if (!file) throw new UsageError('the bundle FILE is required');
    const trustPath = stringOpt(values, 'trust', true);
    const trustText = await readFile(trustPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new AirlockError('TRUST_ROOT_INVALID', `cannot read trust root ${trustPath}: ${err.code ?? err.message}`);
    });
    const trust = loadTrustRoot(trustText, ctx.now(), trustPath);
    const progress = createProgress({ stream: ctx.stderr, enabled: ctx.interactive && !ctx.json, label: 'verifying' });
    const report = await verifyBundleFile({
      path: file,
      trust,
      now: ctx.now(),
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
      ctx.stdout.write(`${file}: verified${parts}\n${renderSummary(named, 'signed by:')}`);
    }
  },
};
