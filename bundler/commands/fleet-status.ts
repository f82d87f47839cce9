import { type Command, UsageError, listOpt, stringOpt, writeJson } from '../../src/command.js';
import { labelKeyProblem } from '../../src/site/labels.js';
import { type ChannelHead, type Counts, STATES, type SiteStatus, countStates, groupBy, siteStatus } from '../../src/fleet/status.js';
import { SOURCE_HELP, SOURCE_OPTIONS, closeSource, openFleet, readHeads, readReports } from './fleet-common.js';

export const fleetStatus: Command = {
  path: ['fleet', 'status'],
  summary: "every site's release, sync, health and drift, from their signed receipts",
  help: `Usage: airlock fleet status -f fleet.yaml [--depot oci://HOST/REPO | --receipts DIR [--head NEW.airlock …]]
                            [--channel C] [--by LABEL] [--json]
                            [--write-deltas DIR --bundle NEW.airlock --key K.key]

Reads every site's latest receipt, checks its signature against the site's key in the fleet file, and
prints one row per site and cluster: the release in force (name, sequence, root), sync, health, drifted
objects, when the site last reported, how many releases it is behind the channel head, and its wave.
Each row has a state: current, behind, degraded, stale (silent for longer than the fleet's stale),
never-reported, or untrusted (the receipt does not verify against the site's key: shown, never counted
as anything else). The channel head is the channel tag's root in the depot; for a folder of receipts,
the newest bundle given with --head.

Options:
${SOURCE_HELP}
  --head BUNDLE        a release of the channel (the newest given is the head; repeatable), for --receipts
  --channel C          only this channel's placements
  --by LABEL           group the sites by this label, with the count of each state per value
  --write-deltas DIR   write per site the delta bundle it needs, from its receipt: DIR/SITE.airlock
                       (needs --bundle and --key; sites that never reported or are untrusted get none)
  --bundle FILE        the new release to make the deltas of
  --key FILE           secret release key to sign each delta's statement with (repeatable)
  --json               print the status as JSON (docs/json.md)`,
  options: {
    ...SOURCE_OPTIONS,
    head: { type: 'string', multiple: true },
    channel: { type: 'string' },
    by: { type: 'string' },
    'write-deltas': { type: 'string' },
    bundle: { type: 'string' },
    key: { type: 'string', multiple: true },
  },
  async run(values, _positionals, ctx) {
    const by = stringOpt(values, 'by');
    if (by && labelKeyProblem(by)) throw new UsageError(`--by: ${labelKeyProblem(by)}`);
    const deltasDir = stringOpt(values, 'write-deltas');
    const bundle = stringOpt(values, 'bundle');
    const keyPaths = listOpt(values, 'key');
    if (deltasDir && (!bundle || !keyPaths.length)) throw new UsageError('--write-deltas needs --bundle NEW.airlock (the release) and --key (to sign each delta)');
    if (!deltasDir && (bundle || keyPaths.length)) throw new UsageError('--bundle and --key go with --write-deltas DIR');
    const channel = stringOpt(values, 'channel');
    const opened = await openFleet(values);
    try {
      const now = ctx.now();
      const reports = await readReports(opened);
      const heads = await readHeads(opened, reports, listOpt(values, 'head'), channel);
      const sites = opened.fleet.sites.map((site) =>
        siteStatus({ site, report: reports.reports.get(site.name), waves: opened.fleet.waves, heads, staleMs: opened.fleet.staleMs, now, ...(channel ? { channel } : {}) }),
      );
      const counts = countStates(sites);
      const groups = by ? groupBy(sites, by) : undefined;
      let deltas: { site: string; path: string; leftOut: number }[] | undefined;
      if (deltasDir && bundle) {
        const { writeDeltas } = await import('./fleet-deltas.js');
        deltas = await writeDeltas({ opened, reports, bundle, keyPaths, dir: deltasDir, now, log: (line) => !ctx.json && ctx.stderr.write(`${line}\n`) });
      }
      if (ctx.json) {
        writeJson(ctx, {
          kind: 'FleetStatus',
          generated: now.toISOString(),
          source: opened.source.kind === 'depot' ? opened.source.url : opened.source.dir,
          heads: [...heads.values()].map((h) => ({ channel: h.channel, root: h.root, sequence: h.sequence, releases: h.releases.length })),
          counts,
          ...(groups ? { groups } : {}),
          sites,
          strangers: reports.strangers,
          ...(deltas ? { deltas } : {}),
        });
        return;
      }
      ctx.stdout.write(render(sites, counts, heads, groups, by));
      if (reports.strangers.length) ctx.stdout.write(`${reports.strangers.length} receipt(s) from no site of the fleet, ignored (first: ${reports.strangers[0]?.where}: ${reports.strangers[0]?.why})\n`);
      if (deltas) ctx.stdout.write(`wrote ${deltas.length} delta bundle(s) to ${deltasDir}\n`);
    } finally {
      closeSource(opened.source);
    }
  },
};

function countLine(counts: Counts): string {
  return STATES.map((s) => `${counts[s]} ${s}`).join(', ');
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

function render(sites: SiteStatus[], counts: Counts, heads: Map<string, ChannelHead>, groups: ReturnType<typeof groupBy> | undefined, by: string | undefined): string {
  const out: string[] = [`${sites.length} site(s): ${countLine(counts)}`];
  for (const h of heads.values()) out.push(`head of ${h.channel}: ${h.name ? `${h.name} ` : ''}sequence ${h.sequence}, root ${h.root}`);
  if (groups && by) {
    out.push('', table([by.toUpperCase(), 'SITES', ...STATES.map((s) => s.toUpperCase())], groups.map((g) => [g.value || '(none)', String(g.sites), ...STATES.map((s) => String(g.counts[s]))])));
    sites = [...sites].sort((a, b) => (a.labels[by] ?? '').localeCompare(b.labels[by] ?? '') || a.name.localeCompare(b.name));
  }
  const body = sites.flatMap((s) =>
    s.rows.map((r) => [
      s.name,
      r.cluster,
      r.state,
      r.release?.name ?? '',
      r.release?.sequence !== null && r.release?.sequence !== undefined ? String(r.release.sequence) : '',
      r.release ? r.release.root.slice(0, 19) : '',
      r.sync,
      r.health,
      String(r.drifted),
      r.lastReport ?? 'never',
      r.behind === null ? '' : String(r.behind),
      s.wave ?? '(none)',
      r.reason ?? '',
    ]),
  );
  out.push('', table(['SITE', 'CLUSTER', 'STATE', 'RELEASE', 'SEQ', 'ROOT', 'SYNC', 'HEALTH', 'DRIFT', 'LAST REPORT', 'BEHIND', 'WAVE', 'WHY'], body));
  return `${out.join('\n')}\n`;
}
