import { type Command, UsageError, listOpt, stringOpt, writeJson } from '../../src/command.js';
import { ANNOTATION_CHANNEL, ANNOTATION_SEQUENCE, SIGNATURE_ARTIFACT_TYPE } from '../../src/depot/layout.js';
import { type ReleasePlan, planTag, readPlan, signPlan, verifyPlan, writePlan } from '../../src/depot/plan.js';
import { listReferrers } from '../../src/depot/referrers.js';
import { AirlockError, isAirlockError } from '../../src/errors.js';
import { type GateReport, type Promotion, type SiteEvidence, promote } from '../../src/fleet/gate.js';
import { bundleStatement } from '../../src/fleet/heads.js';
import { readHistory } from '../../src/fleet/history.js';
import { mapLimit } from '../../src/fleet/limit.js';
import type { RegistryRepository } from '../../src/registry/repository.js';
import { duration } from '../../src/ui/format.js';
import { readSecretKey } from '../../keys/key-file.js';
import { loadTrustRoot, readTrustRootFile } from '../../keys/trust-root.js';
import { SOURCE_HELP, SOURCE_OPTIONS, closeSource, openFleet, readReports } from './fleet-common.js';

/** Exit code when some wave is held back by the gate before it. */
export const EXIT_HELD = 3;

export const fleetPromote: Command = {
  path: ['fleet', 'promote'],
  summary: 'move a release on to the next wave when the wave before is healthy on it',
  help: `Usage: airlock fleet promote -f fleet.yaml --channel C --release ROOT|BUNDLE --key K.key [--key …]
                            --trust root.json [--depot oci://HOST/REPO] [--json]

Writes the channel's next release plan (tag C.plan in the depot, signed with the release keys, serial
one higher) giving the release to the fleet's first wave, and to each later wave only when the wave
before it has the release and its gate holds for that root: at least the gate's share of that wave's
sites healthy on the root (every placement of the channel on it, Synced and Healthy) without a break
for the soak time, as their receipts show; a site whose last receipt is older than the fleet's stale
counts as not healthy, as do sites that never reported and receipts that do not verify. A wave that
has the release keeps it. Appliances that follow the depot take the root of the first wave matching
their labels. docs/adr/020-waves.md has the exact rules.

Exit codes: 0 every wave has the release; 3 some wave is held back (the sites holding it back and why
are printed; run again later: the plan moves on once the gate holds); 1 failure; 2 usage.

Options:
${SOURCE_HELP}
  --channel C          the channel whose plan to write
  --release ROOT|FILE  the release: its root digest in the depot (sha256:…) or the bundle file pushed there
  --key FILE           secret release key to sign the plan with (repeatable, up to the threshold)
  --trust FILE         the trust root (root.json): the current plan must verify against it, and so must
                       the new one before it is written
  --json               print the decision as JSON`,
  options: { ...SOURCE_OPTIONS, channel: { type: 'string' }, release: { type: 'string' }, key: { type: 'string', multiple: true }, trust: { type: 'string' } },
  async run(values, _positionals, ctx) {
    const channel = stringOpt(values, 'channel', true);
    const releaseArg = stringOpt(values, 'release', true);
    const keyPaths = listOpt(values, 'key');
    if (!keyPaths.length) throw new UsageError('at least one --key is required to sign the plan');
    const trustPath = stringOpt(values, 'trust', true);
    if (values.receipts) throw new UsageError('fleet promote writes the plan to the depot and reads the receipts there: give --depot (or depot: in the fleet file), not --receipts');
    const now = ctx.now();
    const trust = loadTrustRoot(await readTrustRootFile(trustPath), now, trustPath);
    const keys = await Promise.all(keyPaths.map(readSecretKey));
    const opened = await openFleet(values);
    try {
      if (opened.source.kind !== 'depot') throw new UsageError('fleet promote needs the depot');
      const repo = opened.source.repo;
      const release = await releaseOf(repo, releaseArg, channel);
      const currentText = await readPlan(repo, channel);
      const current = currentText === undefined ? undefined : verifyPlan(currentText, trust, `${opened.source.url}:${planTag(channel)}`);
      const ahead = current?.waves.find((w) => w.sequence !== null && w.sequence > release.sequence);
      if (ahead) {
        throw new AirlockError('ROLLBACK', `wave ${ahead.name} already has sequence ${ahead.sequence} (${ahead.root}), newer than ${release.root} (sequence ${release.sequence}); appliances never go back to a lower sequence: release a newer bundle instead`);
      }
      const reports = await readReports(opened);
      const keepMs = Math.max(...opened.fleet.waves.map((w) => w.gate.soakMs)) + opened.fleet.staleMs;
      const evidence: SiteEvidence[] = await mapLimit(opened.fleet.sites, 16, async (site) => {
        const report = reports.reports.get(site.name);
        // The depot's receipt of the site does not verify: older ones say nothing about it now.
        if (report?.untrusted && !report.latest) return { site, receipts: [], untrusted: report.untrusted.why };
        return { site, receipts: await readHistory(opened.history, site, keepMs) };
      });
      const result = promote({ waves: opened.fleet.waves, evidence, channel, release, current, staleMs: opened.fleet.staleMs, now });
      // Signed and checked even when unchanged: keys the trust root does not accept are found out now.
      const envelope = signPlan(result.plan, keys);
      verifyPlan(envelope, trust, 'the new plan (check --key against the trust root\'s release keys)');
      if (result.changed) await writePlan(repo, channel, envelope);
      const written = result.changed;
      if (ctx.json) {
        writeJson(ctx, {
          kind: 'FleetPromote',
          channel,
          release,
          serial: written ? result.plan.serial : (current?.serial ?? null),
          written,
          held: result.held,
          waves: result.decisions.map((d, i) => ({ name: d.wave, gets: d.gets, previous: d.previous, plan: result.plan.waves[i], gate: d.after })),
        });
      } else ctx.stdout.write(render(result, release, channel, written, opened.source.url, current));
      return result.held ? EXIT_HELD : 0;
    } finally {
      closeSource(opened.source);
    }
  },
};

async function releaseOf(repo: RegistryRepository, arg: string, channel: string): Promise<{ root: string; sequence: number }> {
  if (/^sha256:[a-f0-9]{64}$/.test(arg)) {
    const sigs = (await listReferrers(repo, arg)).filter((d) => d.artifactType === SIGNATURE_ARTIFACT_TYPE && d.annotations?.[ANNOTATION_CHANNEL] === channel);
    if (!sigs.length) throw new AirlockError('MANIFEST_UNKNOWN', `${arg} was not pushed to channel ${channel} of ${repo.client.registry}/${repo.name}: push the bundle there first (airlock bundle push)`);
    return { root: arg, sequence: Math.max(...sigs.map((d) => Number(d.annotations?.[ANNOTATION_SEQUENCE] ?? 0))) };
  }
  const statement = await bundleStatement(arg);
  if (statement.channel !== channel) throw new UsageError(`--release ${arg} is a bundle for channel ${statement.channel}, not ${channel}`);
  try {
    await repo.getManifest(statement.root.digest);
  } catch (err) {
    if (isAirlockError(err, 'MANIFEST_UNKNOWN')) throw new AirlockError('MANIFEST_UNKNOWN', `${arg} (root ${statement.root.digest}) is not in ${repo.client.registry}/${repo.name}: push it first (airlock bundle push ${arg} oci://${repo.client.registry}/${repo.name})`);
    throw err;
  }
  return { root: statement.root.digest, sequence: statement.sequence };
}

function gateLine(g: GateReport): string {
  return `${g.healthy} of ${g.sites} site(s) of wave ${g.wave} healthy on it for ${duration(g.soakMs)} (${Math.round(g.needed * 1000) / 10}% needed)`;
}

function render(result: Promotion, release: { root: string; sequence: number }, channel: string, written: boolean, depot: string, current: ReleasePlan | undefined): string {
  const out = [`release ${release.root} (sequence ${release.sequence}) on channel ${channel}`];
  for (const d of result.decisions) {
    const had = d.previous.root === release.root;
    if (d.gets) out.push(`wave ${d.wave}: ${had ? 'has it' : 'gets it'}${d.after && !had ? `: ${gateLine(d.after)}` : ''}`);
    else {
      const prev = d.previous.root ? `stays on ${d.previous.root.slice(0, 19)} (sequence ${d.previous.sequence})` : 'takes nothing yet';
      out.push(`wave ${d.wave}: held back, ${prev}: ${d.after ? (d.after.holds ? `the wave before has not got it yet` : gateLine(d.after)) : ''}`);
      for (const b of d.after && !d.after.holds ? d.after.blockers.slice(0, 50) : []) out.push(`  ${b.site}: ${b.reason}`);
      if (d.after && d.after.blockers.length > 50) out.push(`  … and ${d.after.blockers.length - 50} more`);
    }
  }
  out.push(written ? `wrote plan serial ${result.plan.serial} to ${depot}:${planTag(channel)}` : `plan unchanged (serial ${current?.serial ?? 0})`);
  return `${out.join('\n')}\n`;
}
