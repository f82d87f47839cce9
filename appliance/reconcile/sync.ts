/**
 * One sync of a channel: resolve every desired object against the API (kind, scope, namespace), dry-run the whole
 * set server-side, then apply in order (Namespaces, CRDs — waited for until Established — then by wave, kind,
 * name) and prune what the channel owned before and no longer wants. Nothing is written unless every object
 * resolved and passed the dry run. And one check: live objects against desired ones (drift and health), with no
 * write at all.
 */
import { AirlockError, errorMessage, isAirlockError } from '../../src/errors.js';
import type { ClusterApi, LiveObject } from '../../src/kube/cluster-api.js';
import { type DesiredObject, OWNER_LABEL, describeObject, groupOf, objectKey, ownedBy } from '../../src/kube/desired.js';
import { type FieldDrift, driftOf, renderDrift } from '../../src/kube/diff.js';
import { type Health, healthOf } from '../../src/kube/health.js';
import { applyOrder, pruneOrder } from '../../src/kube/order.js';
import type { KubeObject } from '../../src/manifests/documents.js';
import { limiter } from '../../src/copy.js';

/** Requests in flight at once within one step of the order (same rank, wave and kind). */
const CONCURRENCY = 8;

/**
 * Runs `fn` over objects in their order, one step at a time: a step is a run of objects of the same rank, wave and
 * kind, whose requests go out concurrently; the next step starts when the step before has finished.
 */
async function inSteps<T>(ordered: DesiredObject[], fn: (d: DesiredObject) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  const limit = limiter(CONCURRENCY);
  let i = 0;
  while (i < ordered.length) {
    const first = ordered[i] as DesiredObject;
    let j = i;
    while (j < ordered.length && sameStep(first, ordered[j] as DesiredObject)) j++;
    out.push(...(await Promise.all(ordered.slice(i, j).map((d) => limit(() => fn(d))))));
    i = j;
  }
  return out;
}

function sameStep(a: DesiredObject, b: DesiredObject): boolean {
  return a.wave === b.wave && a.object.kind === b.object.kind;
}

export interface InventoryEntry {
  key: string;
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export interface SyncOutcome {
  applied: string[];
  pruned: string[];
  inventory: InventoryEntry[];
}

export interface SyncOptions {
  channel: string;
  /** The site and cluster of the placement: prune deletes only objects labelled with them (see ownedBy). */
  placement?: { site: string; cluster: string };
  /** How long the objects of one wave may take to be Healthy before the sync fails (default 5 minutes). */
  waveTimeoutMs?: number;
  /** How often health is read while a wave is waited for (default 1 s). */
  healthPollMs?: number;
  /** Take over fields another field manager owns instead of reporting the conflict. */
  forceConflicts?: boolean;
  /** How long to wait for a new CRD to be Established. */
  crdTimeoutMs?: number;
}

/** Where each desired object lives, resolved by discovery; objects of CRDs in the same set resolve after those. */
async function resolve(cluster: ClusterApi, desired: DesiredObject[]): Promise<{ objects: DesiredObject[]; deferred: DesiredObject[] }> {
  const problems: string[] = [];
  const crds = desired.filter((d) => d.object.kind === 'CustomResourceDefinition');
  const fromBundleCrd = (o: KubeObject) =>
    crds.some((c) => {
      const spec = c.object.spec as { group?: string; names?: { kind?: string } } | undefined;
      return spec?.group === groupOf(o.apiVersion ?? '') && spec?.names?.kind === o.kind;
    });
  const bundleNamespaces = new Set(desired.filter((d) => d.object.kind === 'Namespace').map((d) => d.object.metadata?.name));
  const objects: DesiredObject[] = [];
  const deferred: DesiredObject[] = [];
  const knownNamespaces = new Map<string, boolean>();
  for (const d of desired) {
    const o = d.object;
    const info = await cluster.resource(o.apiVersion ?? '', o.kind ?? '');
    if (!info) {
      if (fromBundleCrd(o)) {
        deferred.push(d);
        continue;
      }
      problems.push(`${d.origin}: ${describeObject(o)}: the cluster has no kind ${o.kind} in ${o.apiVersion}`);
      continue;
    }
    const placed = placeObject(d, info.namespaced);
    const ns = placed.object.metadata?.namespace;
    if (ns && !bundleNamespaces.has(ns)) {
      if (!knownNamespaces.has(ns)) knownNamespaces.set(ns, (await cluster.get({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })) !== undefined);
      if (!knownNamespaces.get(ns)) problems.push(`${d.origin}: ${describeObject(placed.object)}: namespace ${ns} is neither in the bundle nor in the cluster`);
    }
    objects.push(placed);
  }
  if (problems.length) throw new AirlockError('KUBE_INVALID', `the sync stopped before any change: ${problems.join('; ')}`);
  return { objects, deferred };
}

/** Namespaced objects without a namespace go to `default`; cluster-scoped ones lose a stray namespace. */
function placeObject(d: DesiredObject, namespaced: boolean): DesiredObject {
  const metadata = { ...(d.object.metadata ?? {}) };
  if (namespaced && !metadata.namespace) metadata.namespace = 'default';
  if (!namespaced) delete metadata.namespace;
  const object = { ...d.object, metadata };
  return { ...d, object, key: objectKey(object) };
}

function entryOf(d: DesiredObject): InventoryEntry {
  const m = d.object.metadata ?? {};
  return { key: d.key, apiVersion: d.object.apiVersion ?? '', kind: d.object.kind ?? '', ...(m.namespace ? { namespace: m.namespace } : {}), name: m.name ?? '' };
}

export async function syncChannel(cluster: ClusterApi, desired: DesiredObject[], previous: InventoryEntry[], opts: SyncOptions): Promise<SyncOutcome> {
  const { objects, deferred } = await resolve(cluster, desired);
  const ordered = applyOrder(objects);
  const force = opts.forceConflicts === true;

  // Dry run of everything that can be checked before anything exists: objects in namespaces new to the cluster
  // and custom resources of new CRDs are checked by their real apply.
  const newNamespaces = new Set<string>();
  for (const d of ordered) if (d.object.kind === 'Namespace' && !(await cluster.get(d.object))) newNamespaces.add(d.object.metadata?.name ?? '');
  const failures = (
    await inSteps(ordered, async (d) => {
      const ns = d.object.metadata?.namespace;
      if (ns && newNamespaces.has(ns)) return undefined;
      try {
        await cluster.apply(d.object, { dryRun: true, force });
        return undefined;
      } catch (err) {
        return `${d.origin}: ${errorMessage(err)}`;
      }
    })
  ).filter((f): f is string => f !== undefined);
  if (failures.length) {
    const conflict = failures.some((f) => f.includes('conflict'));
    throw new AirlockError(conflict ? 'KUBE_CONFLICT' : 'KUBE_INVALID', `the server-side dry run failed, nothing was changed: ${failures.join('; ')}${conflict && !force ? ' (another field manager owns these fields; --force-conflicts takes them over)' : ''}`);
  }

  // Namespaces and CRDs first (CRDs waited for until Established), then custom resources of those CRDs can be
  // placed, then everything else wave by wave: a wave starts only when every object of the one before is Healthy.
  const first = ordered.filter((d) => d.object.kind === 'Namespace' || d.object.kind === 'CustomResourceDefinition');
  const applied: string[] = [];
  const done: DesiredObject[] = [];
  const apply = async (d: DesiredObject) => {
    await cluster.apply(d.object, { force });
    applied.push(d.key);
    done.push(d);
    return d.key;
  };
  const failed = (err: unknown): never => {
    const keys = new Set(applied);
    throw new SyncFailure(err, [...previous.filter((e) => !keys.has(e.key)), ...done.map(entryOf)]);
  };
  await inSteps(first, apply).catch(failed);
  const crdsApplied = first.filter((d) => d.object.kind === 'CustomResourceDefinition');
  if (crdsApplied.length) await waitEstablished(cluster, crdsApplied, opts.crdTimeoutMs ?? 30_000).catch(failed);
  const late: DesiredObject[] = [];
  for (const d of deferred) {
    cluster.forget(d.object.apiVersion ?? '');
    const info = await cluster.resource(d.object.apiVersion ?? '', d.object.kind ?? '').catch(failed);
    if (!info) failed(new AirlockError('KUBE_INVALID', `${d.origin}: ${describeObject(d.object)}: kind ${d.object.kind} is still unknown after its CustomResourceDefinition was established`));
    else late.push(placeObject(d, info.namespaced));
  }
  const rest = applyOrder([...ordered.filter((d) => !first.includes(d)), ...late]);
  const waves = [...new Set(rest.map((d) => d.wave))];
  for (const [i, wave] of waves.entries()) {
    const members = rest.filter((d) => d.wave === wave);
    await inSteps(members, apply).catch(failed);
    if (i < waves.length - 1) await waitHealthy(cluster, wave, members, opts).catch(failed);
  }

  const all = [...ordered, ...late];
  const isOurs = (labels: Record<string, string> | undefined) =>
    opts.placement ? ownedBy(labels, { channel: opts.channel, ...opts.placement }) : labels?.[OWNER_LABEL] === opts.channel;
  const wanted = new Set(all.map((d) => d.key));
  const pruned: string[] = [];
  for (const entry of pruneOrder(previous.filter((e) => !wanted.has(e.key)))) {
    const ref: KubeObject = { apiVersion: entry.apiVersion, kind: entry.kind, metadata: { name: entry.name, ...(entry.namespace ? { namespace: entry.namespace } : {}) } };
    const live = await cluster.get(ref).catch((err: unknown) => {
      if (isAirlockError(err, 'KUBE_INVALID')) return undefined;
      throw err;
    });
    // Only what still carries this placement's marks (or, written before placements, the channel's owner label) is
    // airlock's to delete.
    if (!live || !isOurs(live.metadata?.labels)) continue;
    await cluster.delete(ref);
    pruned.push(entry.key);
  }
  return { applied, pruned, inventory: all.map(entryOf) };
}

/** A sync that failed after it wrote: the inventory then holds what it had applied, so prune can find it later. */
export class SyncFailure extends AirlockError {
  constructor(
    err: unknown,
    readonly inventory: InventoryEntry[],
  ) {
    super(isAirlockError(err) ? err.code : 'KUBE_ERROR', errorMessage(err), { cause: err });
  }
}

/** Waits until every object of a wave is Healthy; after `waveTimeoutMs`, fails naming those that are not. */
async function waitHealthy(cluster: ClusterApi, wave: number, members: DesiredObject[], opts: SyncOptions): Promise<void> {
  const timeoutMs = opts.waveTimeoutMs ?? 300_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const verdicts = await Promise.all(members.map(async (d) => ({ d, h: healthOf(await cluster.get(d.object)) })));
    const waiting = verdicts.filter((v) => v.h.health !== 'Healthy');
    if (!waiting.length) return;
    if (Date.now() >= deadline) {
      const names = waiting.map((v) => `${describeObject(v.d.object)} (${v.h.health}${v.h.message ? `: ${v.h.message}` : ''})`);
      throw new AirlockError('KUBE_UNHEALTHY', `wave ${wave} was not Healthy within ${formatMs(timeoutMs)}, so later waves were not applied: ${names.join('; ')}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(opts.healthPollMs ?? 1000, Math.max(1, deadline - Date.now()))));
  }
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}

async function waitEstablished(cluster: ClusterApi, crds: DesiredObject[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    for (;;) {
      const live = await cluster.get(crd.object);
      if (healthOf(live).health === 'Healthy') break;
      if (Date.now() > deadline) throw new AirlockError('KUBE_ERROR', `${describeObject(crd.object)} was not Established within ${Math.round(timeoutMs / 1000)} s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export interface ObjectStatus {
  key: string;
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  origin: string;
  sync: 'Synced' | 'OutOfSync' | 'Missing';
  health: Health;
  healthMessage?: string;
  /** Drifted fields, one per line (`spec.replicas: want 2, have 5`). */
  diff?: string;
  drift?: FieldDrift[];
}

/** Reads every desired object back (GET only) and compares: drift and health per object. */
export async function checkChannel(cluster: ClusterApi, desired: DesiredObject[]): Promise<ObjectStatus[]> {
  const limit = limiter(CONCURRENCY);
  return Promise.all(
    desired.map((d) =>
      limit(async (): Promise<ObjectStatus> => {
        const info = await cluster.resource(d.object.apiVersion ?? '', d.object.kind ?? '');
        const placed = info ? placeObject(d, info.namespaced) : d;
        const live: LiveObject | undefined = info ? await cluster.get(placed.object) : undefined;
        const h = healthOf(live);
        const drift = live ? driftOf(placed.object as Record<string, unknown>, live as Record<string, unknown>) : [];
        return {
          ...entryOf(placed),
          origin: d.origin,
          sync: !live ? 'Missing' : drift.length ? 'OutOfSync' : 'Synced',
          health: h.health,
          ...(h.message ? { healthMessage: h.message } : {}),
          ...(drift.length ? { diff: renderDrift(drift), drift } : {}),
        };
      }),
    ),
  );
}

/** Re-applies the given objects (self-heal), taking fields back from whoever changed them. */
export async function heal(cluster: ClusterApi, desired: DesiredObject[], keys: Set<string>): Promise<string[]> {
  const healed: string[] = [];
  for (const d of applyOrder(desired)) {
    const info = await cluster.resource(d.object.apiVersion ?? '', d.object.kind ?? '');
    if (!info) continue;
    const placed = placeObject(d, info.namespaced);
    if (!keys.has(placed.key)) continue;
    await cluster.apply(placed.object, { force: true });
    healed.push(placed.key);
  }
  return healed;
}
