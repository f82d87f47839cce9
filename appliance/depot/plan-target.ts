/**
 * Target resolution with release plans (contract C, src/depot/plan.ts): while the channel has no plan, the channel
 * tag; once it has one, the root of the first wave whose selector matches this site's labels (none: take nothing).
 * The plan is checked against the trust root's release role; a plan with a lower serial than one accepted here is
 * refused (the highest serial is kept in the depot state, across restarts), and so is a plan tag that disappears
 * after one was accepted. An idle poll is one HEAD of the plan tag: the plan is fetched again only when it changes.
 */
import { AirlockError } from '../../src/errors.js';
import { planTag, readPlan, targetFor, verifyPlan } from '../../src/depot/plan.js';
import type { RegistryRepository } from '../../src/registry/repository.js';
import { MANIFEST_ACCEPT } from '../../src/registry/repository.js';
import type { TrustRoot } from '../../keys/trust-root.js';
import type { DepotState, DepotTarget, ResolveTarget } from './poller.js';

export function planTarget(labels: () => Record<string, string>, trust: () => TrustRoot): ResolveTarget {
  let seen: { digest: string; text: string } | undefined;
  return async (repo: RegistryRepository, channel: string, state: DepotState): Promise<DepotTarget> => {
    const digest = await headTag(repo, planTag(channel));
    if (digest === undefined) {
      if (state.planSerial !== undefined) {
        throw new AirlockError('PLAN_INVALID', `the depot no longer has a release plan for channel ${channel} (serial ${state.planSerial} was accepted here): taking nothing until a plan with serial ${state.planSerial} or higher is back`);
      }
      return { reference: channel };
    }
    if (seen?.digest !== digest) {
      const text = await readPlan(repo, channel);
      if (text === undefined) return { reference: channel }; // removed between the two requests: the next poll sees it
      seen = { digest, text };
    }
    const plan = verifyPlan(seen.text, trust(), `${repo.client.registry}/${repo.name}:${planTag(channel)}`);
    if (plan.channel !== channel) throw new AirlockError('CHANNEL_MISMATCH', `the plan at ${planTag(channel)} is for channel "${plan.channel}", this site follows "${channel}"`);
    if (state.planSerial !== undefined && plan.serial < state.planSerial) {
      throw new AirlockError('ROLLBACK', `release plan serial ${plan.serial} is older than serial ${state.planSerial}, accepted here before (a replayed plan): ignored`);
    }
    state.planSerial = plan.serial;
    const target = targetFor(plan, labels());
    if (!target) return { reference: null, reason: `this site is in no wave of release plan serial ${plan.serial} that has a release to take` };
    return { reference: target.root, wave: target.wave, serial: plan.serial };
  };
}

/** The digest a tag names, or undefined when there is no such tag (one HEAD). */
async function headTag(repo: RegistryRepository, tag: string): Promise<string | undefined> {
  const res = await repo.client.request('HEAD', `/v2/${repo.name}/manifests/${tag}`, { scopes: [`repository:${repo.name}:pull`], what: `${repo.client.registry}/${repo.name}:${tag}`, headers: { accept: MANIFEST_ACCEPT }, accept: [404] });
  if (res.status === 404) return undefined;
  return res.headers.get('docker-content-digest') ?? (await repo.getManifest(tag)).desc.digest;
}
