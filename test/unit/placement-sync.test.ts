/**
 * Sync, check and prune on the in-memory cluster: order, waves gated on health (and their timeout), prune of this
 * placement's objects only, dry-run failures and conflicts that write nothing, and adoption of objects written
 * before placements.
 */
import { describe, expect, it } from 'vitest';
import { AirlockError } from '../../src/errors.js';
import { type DesiredObject, desiredObjects } from '../../src/kube/desired.js';
import { parseManifests } from '../../src/manifests/documents.js';
import { SyncFailure, checkChannel, syncChannel } from '../../appliance/reconcile/sync.js';
import { FakeCluster } from '../helpers/fake-cluster.js';

function desired(yaml: string, channel = 'stable', placement = { site: 'store-1', cluster: 'pos' }): DesiredObject[] {
  return desiredObjects(parseManifests(yaml, 'set/objects.yaml'), { channel, rootDigest: 'sha256:root', rules: { registry: 'r.local:5000', held: new Map() }, placement });
}

const cm = (name: string, extra = '', ns = 'shop') => `---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n${extra}data:\n  v: "1"\n`;
const wave = (n: number) => `  annotations:\n    airlock.dev/sync-wave: "${n}"\n`;
const NS = '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n';
const JOB = (name: string, n: number) => `---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: ${name}\n  namespace: shop\n${wave(n)}spec:\n  template: {}\n`;
const FAST = { waveTimeoutMs: 2000, healthPollMs: 5 };

describe('sync on the fake cluster', () => {
  it('applies Namespaces, then CRDs, then their custom resources and the rest, after a dry run of everything it can check', async () => {
    const fake = new FakeCluster();
    const crd = `---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Gadget, plural: gadgets}\n  versions: [{name: v1, served: true, storage: true}]\n`;
    const cr = `---\napiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: shop\n`;
    const out = await syncChannel(fake, desired(cm('b') + cr + crd + NS + cm('a')), [], { channel: 'stable', placement: { site: 'store-1', cluster: 'pos' } });
    expect(fake.applied()).toEqual(['/Namespace//shop', 'apiextensions.k8s.io/CustomResourceDefinition//gadgets.example.com', '/ConfigMap/shop/a', '/ConfigMap/shop/b', 'example.com/Gadget/shop/g']);
    // Nothing in the new namespace could be dry-run; the Namespace and the CRD were.
    expect(fake.calls.filter((c) => c.op === 'dry-run').map((c) => c.key)).toEqual(['/Namespace//shop', 'apiextensions.k8s.io/CustomResourceDefinition//gadgets.example.com']);
    expect(out.inventory.map((e) => e.key).sort()).toEqual(out.applied.slice().sort());
    expect(fake.find('ConfigMap', 'a')?.metadata?.labels).toMatchObject({ 'airlock.dev/owner': 'stable', 'airlock.dev/site': 'store-1', 'airlock.dev/cluster': 'pos' });
  });

  it('applies wave N+1 only once every object of wave N is Healthy', async () => {
    const fake = new FakeCluster();
    await fake.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    const syncing = syncChannel(fake, desired(JOB('migrate', 0) + JOB('seed', 0) + cm('app', wave(1))), [], { channel: 'stable', ...FAST });
    const until = async (p: () => boolean) => {
      while (!p()) await new Promise((r) => setTimeout(r, 5));
    };
    await until(() => fake.find('Job', 'seed') !== undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.find('ConfigMap', 'app')).toBeUndefined();
    fake.setStatus({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'migrate', namespace: 'shop' } }, { conditions: [{ type: 'Complete', status: 'True' }] });
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.find('ConfigMap', 'app')).toBeUndefined(); // seed is still running
    fake.setStatus({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'seed', namespace: 'shop' } }, { conditions: [{ type: 'Complete', status: 'True' }] });
    const out = await syncing;
    expect(fake.find('ConfigMap', 'app')).toBeDefined();
    expect(out.applied.at(-1)).toBe('/ConfigMap/shop/app');
  });

  it('fails a wave that is not Healthy in time, naming the objects, applying no later wave, keeping what it applied in the inventory', async () => {
    const fake = new FakeCluster();
    await fake.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    const err = await syncChannel(fake, desired(JOB('migrate', 0) + cm('ok', wave(0)) + cm('app', wave(3))), [], { channel: 'stable', waveTimeoutMs: 60, healthPollMs: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncFailure);
    expect((err as AirlockError).code).toBe('KUBE_UNHEALTHY');
    expect((err as Error).message).toBe('wave 0 was not Healthy within 60 ms, so later waves were not applied: Job shop/migrate (Progressing: running)');
    expect(fake.find('ConfigMap', 'app')).toBeUndefined();
    expect((err as SyncFailure).inventory.map((e) => e.key).sort()).toEqual(['/ConfigMap/shop/ok', 'batch/Job/shop/migrate']);
  });

  it('writes nothing when the dry run fails, naming file and object; a conflict says how to take the fields', async () => {
    const fake = new FakeCluster();
    await syncChannel(fake, desired(NS + cm('a') + cm('b')), [], { channel: 'stable' });
    const writes = fake.requests.write;
    const before = fake.applied().length;
    fake.fault((call, o) => (call.op === 'dry-run' && o.metadata?.name === 'b' ? new AirlockError('KUBE_INVALID', 'ConfigMap "b" is invalid: data: bad') : undefined));
    const err = await syncChannel(fake, desired(NS + cm('a') + cm('b')), [], { channel: 'stable' }).then(() => new AirlockError('USAGE', 'the sync succeeded'), (e: unknown) => e as AirlockError);
    expect(err.code).toBe('KUBE_INVALID');
    expect(err.message).toMatch(/^the server-side dry run failed, nothing was changed: set\/objects\.yaml:\d+: ConfigMap "b" is invalid/);
    expect(fake.applied().length).toBe(before);
    expect(fake.requests.write - writes).toBe(3); // the three dry runs, nothing else
    fake.clearFaults();

    fake.edit({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'shop' } }, 'kubectl-edit', (o) => ((o.data as Record<string, string>).v = 'hacked'));
    const conflict = await syncChannel(fake, desired(NS + cm('a') + cm('b')), [], { channel: 'stable' }).then(() => new AirlockError('USAGE', 'the sync succeeded'), (e: unknown) => e as AirlockError);
    expect(conflict.code).toBe('KUBE_CONFLICT');
    expect(conflict.message).toContain('--force-conflicts takes them over');
    expect(fake.find('ConfigMap', 'a')?.data).toEqual({ v: 'hacked' });
    await syncChannel(fake, desired(NS + cm('a') + cm('b')), [], { channel: 'stable', forceConflicts: true });
    expect(fake.find('ConfigMap', 'a')?.data).toEqual({ v: '1' });
  });

  it("prunes only this placement's objects: not another channel's, not another site's, not another cluster's, nor unlabelled ones", async () => {
    const fake = new FakeCluster();
    const mine = { site: 'store-1', cluster: 'pos' };
    const first = await syncChannel(fake, desired(NS + cm('keep') + cm('drop') + cm('theirs') + cm('other-site') + cm('other-cluster') + cm('unlabelled')), [], { channel: 'stable', placement: mine });
    // Others take over some objects (as another channel, site or cluster applying the same name would).
    await fake.apply(desired(cm('theirs'), 'beta')[0]?.object ?? {}, { force: true });
    await fake.apply(desired(cm('other-site'), 'stable', { site: 'store-2', cluster: 'pos' })[0]?.object ?? {}, { force: true });
    await fake.apply(desired(cm('other-cluster'), 'stable', { site: 'store-1', cluster: 'cameras' })[0]?.object ?? {}, { force: true });
    fake.edit({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unlabelled', namespace: 'shop' } }, 'someone', (o) => {
      o.metadata = { ...o.metadata, labels: {} };
    });
    const next = await syncChannel(fake, desired(NS + cm('keep')), first.inventory, { channel: 'stable', placement: mine });
    expect(next.pruned).toEqual(['/ConfigMap/shop/drop']);
    expect(['theirs', 'other-site', 'other-cluster', 'unlabelled'].map((n) => fake.find('ConfigMap', n) !== undefined)).toEqual([true, true, true, true]);
    expect(next.inventory.map((e) => e.key)).toEqual(['/Namespace//shop', '/ConfigMap/shop/keep']);
  });

  it('adopts objects written before placements (owner label only): kept when wanted, pruned when dropped', async () => {
    const fake = new FakeCluster();
    const legacy = (yaml: string) => desiredObjects(parseManifests(yaml, 'old.yaml'), { channel: 'stable', rootDigest: 'sha256:old', rules: { registry: 'r', held: new Map() } });
    const before = await syncChannel(fake, legacy(NS + cm('keep') + cm('drop')), [], { channel: 'stable' });
    expect(fake.find('ConfigMap', 'keep')?.metadata?.labels).toEqual({ 'airlock.dev/owner': 'stable' });
    const local = { site: 'store-1', cluster: 'local' };
    const out = await syncChannel(fake, desired(NS + cm('keep'), 'stable', local), before.inventory, { channel: 'stable', placement: local });
    expect(out.pruned).toEqual(['/ConfigMap/shop/drop']);
    expect(fake.find('ConfigMap', 'keep')?.metadata?.labels).toMatchObject({ 'airlock.dev/site': 'store-1', 'airlock.dev/cluster': 'local' });
  });

  it('checks with reads only: drift and health per object', async () => {
    const fake = new FakeCluster();
    const want = desired(NS + cm('a') + JOB('j', 0));
    await syncChannel(fake, want, [], { channel: 'stable' });
    fake.edit({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'shop' } }, 'kubectl', (o) => ((o.data as Record<string, string>).v = '2'));
    const writes = fake.requests.write;
    const status = await checkChannel(fake, want);
    expect(fake.requests.write).toBe(writes);
    expect(status.map((s) => `${s.kind}/${s.name}:${s.sync}:${s.health}`).sort()).toEqual(['ConfigMap/a:OutOfSync:Healthy', 'Job/j:Synced:Progressing', 'Namespace/shop:Synced:Healthy']);
    expect(status.find((s) => s.name === 'a')?.diff).toBe('data.v: want "1", have "2"');
  });
});
