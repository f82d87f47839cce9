/**
 * An in-memory cluster behind the same interface as the real client (src/kube/cluster-api.ts), for fast unit tests
 * of sync, waves, prune and the placement loops: discovery of a fixed set of kinds plus those of applied CRDs
 * (Established at once), server-side apply as a merge with dry run, namespaces that must exist, conflicts with
 * another field manager, and faults on demand (down, hung, failing calls). Every call is logged in order.
 */
import { AirlockError } from '../../src/errors.js';
import type { ApplyOptions, ClusterApi, LiveObject, ResourceInfo } from '../../src/kube/cluster-api.js';
import { objectKey } from '../../src/kube/desired.js';
import type { KubeObject } from '../../src/manifests/documents.js';

const BUILTIN: [string, string, string, boolean][] = [
  ['v1', 'Namespace', 'namespaces', false],
  ['v1', 'ConfigMap', 'configmaps', true],
  ['v1', 'Secret', 'secrets', true],
  ['v1', 'Service', 'services', true],
  ['v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', true],
  ['apps/v1', 'Deployment', 'deployments', true],
  ['batch/v1', 'Job', 'jobs', true],
  ['apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'customresourcedefinitions', false],
];

export interface FakeCall {
  op: 'apply' | 'dry-run' | 'get' | 'delete';
  key: string;
}

type Fault = (call: FakeCall, object: KubeObject) => Error | undefined;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(live: Record<string, unknown>, applied: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...live };
  for (const [k, v] of Object.entries(applied)) out[k] = isObject(v) && isObject(out[k]) ? merge(out[k] as Record<string, unknown>, v) : structuredClone(v);
  return out;
}

export class FakeCluster implements ClusterApi {
  readonly requests = { read: 0, write: 0 };
  readonly calls: FakeCall[] = [];
  readonly objects = new Map<string, LiveObject>();
  private readonly kinds = new Map<string, ResourceInfo>();
  /** Objects whose fields another field manager holds: a non-forced apply conflicts. */
  private readonly heldBy = new Map<string, string>();
  private faults: Fault[] = [];
  private mode: 'up' | 'down' | 'hung' = 'up';
  private hungCalls: (() => void)[] = [];

  constructor(readonly server = 'https://fake.invalid') {
    for (const [apiVersion, kind, plural, namespaced] of BUILTIN) this.kinds.set(`${apiVersion}/${kind}`, { plural, namespaced });
    this.objects.set('/Namespace//default', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  }

  /** Stops answering: every call fails as unreachable (`down`) or never returns until `up()` (`hung`). */
  setMode(mode: 'up' | 'down' | 'hung'): void {
    this.mode = mode;
    if (mode !== 'hung') {
      const waiting = this.hungCalls;
      this.hungCalls = [];
      for (const release of waiting) release();
    }
  }

  /** Adds a fault: called before every call; an error returned is thrown by the call. */
  fault(f: Fault): void {
    this.faults.push(f);
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Another field manager changes an object (drift) and holds the fields: airlock's next non-forced apply conflicts. */
  edit(ref: KubeObject, manager: string, change: (o: LiveObject) => void): void {
    const key = this.keyOf(ref);
    const live = this.objects.get(key);
    if (!live) throw new Error(`no ${key}`);
    change(live);
    this.heldBy.set(key, manager);
  }

  /** Sets an object's status (what a controller would do): drives health. */
  setStatus(ref: KubeObject, status: Record<string, unknown>): void {
    const live = this.objects.get(this.keyOf(ref));
    if (!live) throw new Error(`no ${this.keyOf(ref)}`);
    live.status = status;
  }

  find(kind: string, name: string, namespace?: string): LiveObject | undefined {
    return [...this.objects.values()].find((o) => o.kind === kind && o.metadata?.name === name && (namespace === undefined || o.metadata?.namespace === namespace));
  }

  /** Keys of applied (not dry-run) objects in the order they were applied. */
  applied(): string[] {
    return this.calls.filter((c) => c.op === 'apply').map((c) => c.key);
  }

  private keyOf(o: KubeObject): string {
    const info = this.kinds.get(`${o.apiVersion}/${o.kind}`);
    const metadata = { ...(o.metadata ?? {}) };
    if (info && !info.namespaced) delete metadata.namespace;
    else if (info && !metadata.namespace) metadata.namespace = 'default';
    return objectKey({ ...o, metadata });
  }

  private async enter(call: FakeCall, object: KubeObject): Promise<void> {
    if (this.mode === 'hung') await new Promise<void>((r) => this.hungCalls.push(r));
    if (this.mode === 'down') throw new AirlockError('KUBE_UNREACHABLE', `${call.op} ${call.key}: the API server cannot be reached (connect ECONNREFUSED)`);
    for (const f of this.faults) {
      const err = f(call, object);
      if (err) throw err;
    }
    this.calls.push(call);
  }

  async resource(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    if (this.mode === 'hung') await new Promise<void>((r) => this.hungCalls.push(r));
    if (this.mode === 'down') throw new AirlockError('KUBE_UNREACHABLE', `discovering ${kind}: the API server cannot be reached`);
    return this.kinds.get(`${apiVersion}/${kind}`);
  }

  forget(): void {
    // discovery is not cached here
  }

  async apply(object: KubeObject, opts: ApplyOptions = {}): Promise<LiveObject> {
    const key = this.keyOf(object);
    this.requests.write++;
    await this.enter({ op: opts.dryRun ? 'dry-run' : 'apply', key }, object);
    const info = this.kinds.get(`${object.apiVersion}/${object.kind}`);
    if (!info) throw new AirlockError('KUBE_ERROR', `applying ${key}: the server could not find the requested resource`);
    const ns = object.metadata?.namespace;
    if (info.namespaced && ns && !this.objects.has(`/Namespace//${ns}`)) throw new AirlockError('KUBE_ERROR', `applying ${key}: namespaces "${ns}" not found`);
    const holder = this.heldBy.get(key);
    if (holder && !opts.force) throw new AirlockError('KUBE_CONFLICT', `applying ${key}: Apply failed with 1 conflict: conflict with "${holder}"`);
    const live = merge((this.objects.get(key) as Record<string, unknown> | undefined) ?? {}, object as Record<string, unknown>) as LiveObject;
    if (info.namespaced && !live.metadata?.namespace) live.metadata = { ...live.metadata, namespace: 'default' };
    if (opts.dryRun) return live;
    this.heldBy.delete(key);
    if (object.kind === 'CustomResourceDefinition') this.establish(live);
    this.objects.set(key, live);
    return live;
  }

  private establish(crd: LiveObject): void {
    const spec = crd.spec as { group: string; scope?: string; names: { kind: string; plural: string }; versions?: { name: string }[] };
    for (const v of spec.versions ?? []) this.kinds.set(`${spec.group}/${v.name}/${spec.names.kind}`, { plural: spec.names.plural, namespaced: spec.scope !== 'Cluster' });
    crd.status = { conditions: [{ type: 'Established', status: 'True' }] };
  }

  async get(object: KubeObject): Promise<LiveObject | undefined> {
    const key = this.keyOf(object);
    this.requests.read++;
    await this.enter({ op: 'get', key }, object);
    const live = this.objects.get(key);
    return live ? structuredClone(live) : undefined;
  }

  async delete(object: KubeObject): Promise<void> {
    const key = this.keyOf(object);
    this.requests.write++;
    await this.enter({ op: 'delete', key }, object);
    this.objects.delete(key);
  }

  close(): void {
    // nothing held open
  }
}
