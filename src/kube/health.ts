/**
 * Health of a live object, per kind, from its status alone (the rules Argo CD's health checks follow). Pure.
 * Anything not listed is Healthy once it exists.
 */
export type Health = 'Healthy' | 'Progressing' | 'Degraded' | 'Missing';

export interface HealthVerdict {
  health: Health;
  message?: string;
}

type Obj = Record<string, unknown> & { kind?: string; metadata?: { generation?: number }; spec?: Record<string, unknown>; status?: Record<string, unknown> };
interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

const num = (v: unknown, fallback = 0) => (typeof v === 'number' ? v : fallback);
const conditions = (o: Obj) => (Array.isArray(o.status?.conditions) ? (o.status?.conditions as Condition[]) : []);
const condition = (o: Obj, type: string) => conditions(o).find((c) => c.type === type);
const healthy = (): HealthVerdict => ({ health: 'Healthy' });
const progressing = (message: string): HealthVerdict => ({ health: 'Progressing', message });
const degraded = (message: string): HealthVerdict => ({ health: 'Degraded', message });

function stale(o: Obj): HealthVerdict | undefined {
  const observed = o.status?.observedGeneration;
  const generation = o.metadata?.generation;
  if (typeof generation === 'number' && (typeof observed !== 'number' || observed < generation)) return progressing('the controller has not seen the latest spec yet');
  return undefined;
}

const CHECKS: Record<string, (o: Obj) => HealthVerdict> = {
  Deployment(o) {
    const s = o.status ?? {};
    const dead = condition(o, 'Progressing');
    if (dead?.reason === 'ProgressDeadlineExceeded') return degraded(dead.message ?? 'progress deadline exceeded');
    const waiting = stale(o);
    if (waiting) return waiting;
    const want = num(o.spec?.replicas, 1);
    if (num(s.updatedReplicas) < want) return progressing(`${num(s.updatedReplicas)} of ${want} replicas updated`);
    if (num(s.replicas) > num(s.updatedReplicas)) return progressing(`${num(s.replicas) - num(s.updatedReplicas)} old replicas pending termination`);
    if (num(s.availableReplicas) < num(s.updatedReplicas)) return progressing(`${num(s.availableReplicas)} of ${num(s.updatedReplicas)} updated replicas available`);
    return healthy();
  },
  StatefulSet(o) {
    const waiting = stale(o);
    if (waiting) return waiting;
    const s = o.status ?? {};
    if ((o.spec?.updateStrategy as { type?: string } | undefined)?.type === 'OnDelete') return healthy();
    const want = num(o.spec?.replicas, 1);
    if (num(s.readyReplicas) < want) return progressing(`${num(s.readyReplicas)} of ${want} pods ready`);
    if (s.updateRevision && s.currentRevision !== s.updateRevision) return progressing('rolling update in progress');
    return healthy();
  },
  DaemonSet(o) {
    const waiting = stale(o);
    if (waiting) return waiting;
    const s = o.status ?? {};
    const want = num(s.desiredNumberScheduled);
    if (num(s.updatedNumberScheduled) < want) return progressing(`${num(s.updatedNumberScheduled)} of ${want} pods updated`);
    if (num(s.numberAvailable) < want) return progressing(`${num(s.numberAvailable)} of ${want} pods available`);
    return healthy();
  },
  ReplicaSet(o) {
    const failure = condition(o, 'ReplicaFailure');
    if (failure?.status === 'True') return degraded(failure.message ?? 'replica failure');
    const waiting = stale(o);
    if (waiting) return waiting;
    const want = num(o.spec?.replicas, 1);
    if (num(o.status?.availableReplicas) < want) return progressing(`${num(o.status?.availableReplicas)} of ${want} replicas available`);
    return healthy();
  },
  Job(o) {
    const failed = condition(o, 'Failed');
    if (failed?.status === 'True') return degraded(failed.message ?? failed.reason ?? 'job failed');
    if (condition(o, 'Complete')?.status === 'True') return healthy();
    return progressing('running');
  },
  Pod(o) {
    const s = o.status ?? {};
    if (s.phase === 'Succeeded') return healthy();
    if (s.phase === 'Failed') return degraded(typeof s.message === 'string' ? s.message : 'pod failed');
    const statuses = [...((s.initContainerStatuses as unknown[]) ?? []), ...((s.containerStatuses as unknown[]) ?? [])] as { name?: string; ready?: boolean; state?: { waiting?: { reason?: string; message?: string } } }[];
    for (const c of statuses) {
      const reason = c.state?.waiting?.reason;
      if (reason && BAD_WAITING.has(reason)) return degraded(`container ${c.name ?? '?'}: ${reason}${c.state?.waiting?.message ? `: ${c.state.waiting.message}` : ''}`);
    }
    if (s.phase === 'Running' && condition(o, 'Ready')?.status === 'True') return healthy();
    return progressing(typeof s.phase === 'string' ? `pod is ${s.phase}` : 'pod is pending');
  },
  Service(o) {
    if (o.spec?.type !== 'LoadBalancer') return healthy();
    const ingress = (o.status?.loadBalancer as { ingress?: unknown[] } | undefined)?.ingress;
    return Array.isArray(ingress) && ingress.length ? healthy() : progressing('waiting for a load balancer address');
  },
  PersistentVolumeClaim(o) {
    const phase = o.status?.phase;
    if (phase === 'Bound') return healthy();
    if (phase === 'Lost') return degraded('the claim lost its volume');
    return progressing(`claim is ${typeof phase === 'string' ? phase : 'Pending'}`);
  },
  CustomResourceDefinition(o) {
    const names = condition(o, 'NamesAccepted');
    if (names?.status === 'False') return degraded(names.message ?? 'names not accepted');
    return condition(o, 'Established')?.status === 'True' ? healthy() : progressing('not established yet');
  },
  Namespace(o) {
    return o.status?.phase === 'Terminating' ? progressing('terminating') : healthy();
  },
};

const BAD_WAITING = new Set(['CrashLoopBackOff', 'ImagePullBackOff', 'ErrImagePull', 'CreateContainerConfigError', 'InvalidImageName', 'CreateContainerError']);

/** Health of a live object; `undefined` (no such object) is Missing. */
export function healthOf(live: Obj | undefined): HealthVerdict {
  if (!live) return { health: 'Missing', message: 'not in the cluster' };
  const check = CHECKS[live.kind ?? ''];
  return check ? check(live) : healthy();
}

/** A channel's health: the worst of its objects (Degraded, then Missing or Progressing, then Healthy). */
export function worstHealth(all: Health[]): 'Healthy' | 'Progressing' | 'Degraded' {
  if (all.includes('Degraded')) return 'Degraded';
  if (all.includes('Progressing') || all.includes('Missing')) return 'Progressing';
  return 'Healthy';
}
