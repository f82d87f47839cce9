import { type Command, writeJson } from '../../src/command.js';
import { AirlockError } from '../../src/errors.js';
import { formatBytes } from '../../src/units.js';
import type { GcReport } from '../gc/collect.js';
import { CLIENT_HELP, CLIENT_OPTIONS, applianceClient } from './client.js';

export const applianceGc: Command = {
  path: ['appliance', 'gc'],
  summary: 'remove what no held release needs (blobs, Git objects, partial uploads); --dry-run reports only',
  help: `Usage: airlock appliance gc --server URL --token-file F [--dry-run] [--json]

Asks a running appliance (POST /api/v1/gc, admin role) to collect garbage now. Per channel it holds the bundle in
force and the newest other releases up to its --keep (default 3); older releases are dropped (their history stays,
they can no longer be re-applied), and blobs, Git objects and partial ingest files that no held release needs are
removed. The same runs by itself after every applied import. Refused (409) while an import runs.

Options:
${CLIENT_HELP}
  --dry-run          report what would be removed, remove nothing
  --json             print the report as JSON`,
  options: { ...CLIENT_OPTIONS, 'dry-run': { type: 'boolean' } },
  async run(values, _positionals, ctx) {
    const client = await applianceClient(values);
    const dryRun = values['dry-run'] === true;
    const res = await client.request('/api/v1/gc', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dryRun }) });
    const text = await res.text();
    if (res.status !== 200) {
      const e = (JSON.parse(text || '{}') as { error?: { code?: string; message?: string } }).error;
      throw new AirlockError('IO_ERROR', `garbage collection refused (${res.status}${e ? ` ${e.code ?? ''}: ${e.message ?? ''}` : ''})`);
    }
    const report = JSON.parse(text) as GcReport;
    if (ctx.json) return writeJson(ctx, report);
    const verb = dryRun ? 'would remove' : 'removed';
    const lines = [
      `held (--keep ${report.keep}): ${report.kept.map((r) => `${r.channel}#${r.sequence}${r.inForce ? ' (in force)' : ''}`).join(', ') || 'nothing'}`,
      `releases ${dryRun ? 'to drop' : 'dropped'}: ${report.dropped.map((r) => `${r.channel}#${r.sequence}`).join(', ') || 'none'}`,
      `${verb}: ${report.blobs.count} blob(s) ${formatBytes(report.blobs.bytes)}, ${report.ingest.count} partial ingest file(s) ${formatBytes(report.ingest.bytes)}, ${report.git.refs} staged Git snapshot(s) ${formatBytes(report.git.bytes)}`,
      `total: ${formatBytes(report.bytes)} (${report.bytes} bytes)`,
    ];
    ctx.stdout.write(`${lines.join('\n')}\n`);
  },
};
