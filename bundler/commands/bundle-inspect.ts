import { type Command, UsageError, writeJson } from '../../src/command.js';
import { renderSummary } from '../report.js';
import { inspectBundleFile } from '../verify.js';

export const bundleInspect: Command = {
  path: ['bundle', 'inspect'],
  summary: "show what a bundle holds (without checking signatures; use verify for that)",
  help: `Usage: airlock bundle inspect FILE|PARTS_DIR|NAME.parts.json|- [--json]

Reads only the head of the bundle (statement, root, manifests and configs) and prints its name,
channel, sequence, created and expiry times, the key ids that claim to have signed it, its images
(reference, digest, size), Git snapshots (name, ref, commit), manifest sets, Helm charts (the
version each resolved to, the range asked for, where the appliance serves it) and total size.
Signatures are NOT checked: use \`airlock bundle verify\` before trusting a bundle. FILE - reads the
head of a bundle from standard input.

Options:
  --json   print the same as one JSON object`,
  options: {},
  positionals: [{ name: 'FILE|PARTS_DIR|NAME.parts.json|-', required: true }],
  async run(_values, positionals, ctx) {
    const file = positionals[0];
    if (!file) throw new UsageError('the bundle FILE is required');
    const report = await inspectBundleFile(file, ctx.stdin);
    if (ctx.json) writeJson(ctx, report);
    else ctx.stdout.write(renderSummary(report, 'signers:'));
  },
};
