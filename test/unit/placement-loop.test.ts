/**
 * The loop of each placement on the fake cluster: backoff doubles per failure of that placement only and resets on
 * success, a hung or dead cluster never delays another placement, self-heal, and the inventory a data directory
 * kept before placements taken over by the cluster that stands for the old one.
 */
import { describe, expect, it } from 'vitest';
import { desiredObjects } from '../../src/kube/desired.js';
import { parseManifests } from '../../src/manifests/documents.js';
import { PlacementLoop, type PlacementDeps } from '../../appliance/reconcile/placement.js';
import type { InventoryEntry } from '../../appliance/reconcile/sync.js';
import { FakeCluster } from '../helpers/fake-cluster.js';

const YAML = '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: shop\ndata:\n  v: "1"\n';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function world(yaml = YAML) {
  const inventories = new Map<string, InventoryEntry[]>();
  const audit: string[] = [];
  const deps = (over: Partial<PlacementDeps> = {}): PlacementDeps => ({
    site: 'store-1',
    rootInForce: () => 'sha256:root',
    load: async (channel, cluster, root) => desiredObjects(parseManifests(yaml, 'set/a.yaml'), { channel, rootDigest: root, rules: { registry: 'r', held: new Map() }, placement: { site: 'store-1', cluster } }),
    inventory: (id) => inventories.get(id) ?? [],
    setInventory: (id, e) => void inventories.set(id, e),
    audit: (action, detail) => void audit.push(`${action} ${String(detail.cluster)}`),
    log: quiet,
    now: () => new Date('2026-01-01T00:00:00Z'),
    random: () => 0.5,
    intervalMs: 60_000,
    selfHeal: true,
    forceConflicts: false,
    ...over,
  });
  return { inventories, audit, deps };
}

describe('a loop per placement', () => {
  it('backs off 1 s, 2 s, 4 s … up to the interval on its own failures, with jitter, and resets on success', async () => {
    const { deps } = world();
    const fake = new FakeCluster();
    const loop = new PlacementLoop('stable', { name: 'pos', api: fake }, deps({ random: () => 1 }));
    expect(loop.nextDelay()).toBe(66_000); // the interval +10%
    fake.setMode('down');
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      await loop.passNow();
      delays.push(loop.nextDelay());
    }
    expect(delays).toEqual([1100, 2200, 4400, 8800, 17600, 35200, 66_000, 66_000]);
    expect(loop.status()).toMatchObject({ health: 'Degraded', sync: 'OutOfSync' });
    expect(loop.status().reason).toContain('cannot be reached');
    fake.setMode('up');
    await loop.passNow();
    expect(loop.failureCount).toBe(0);
    expect(loop.status()).toMatchObject({ sync: 'Synced', health: 'Healthy', drifted: 0 });
    expect(loop.status().lastSync).toMatchObject({ ok: true, applied: 2 });
    await loop.stop();
  });

  it("one hung cluster and one dead cluster never delay or fail another placement's sync, check and self-heal", async () => {
    const { deps, inventories } = world();
    const [hung, dead, good] = [new FakeCluster('https://hung'), new FakeCluster('https://dead'), new FakeCluster('https://good')];
    const loops = [
      new PlacementLoop('stable', { name: 'hung', api: hung }, deps()),
      new PlacementLoop('stable', { name: 'dead', api: dead }, deps()),
      new PlacementLoop('stable', { name: 'good', api: good }, deps()),
      new PlacementLoop('beta', { name: 'good', api: good }, deps()),
    ];
    hung.setMode('hung');
    dead.setMode('down');
    const hungPass = loops[0]?.passNow();
    await Promise.all(loops.slice(1).map((l) => l.passNow()));
    expect(loops.slice(1).map((l) => `${l.id}:${l.status().sync}:${l.status().health}`)).toEqual(['stable@dead:OutOfSync:Degraded', 'stable@good:Synced:Healthy', 'beta@good:Synced:Healthy']);
    expect(loops[0]?.status().sync).toBe('Unknown'); // still waiting on its API server, alone
    expect(loops[2]?.failureCount).toBe(0);
    expect(loops[1]?.failureCount).toBe(1);

    // Drift on the good cluster is healed by its own pass while the hung one still hangs.
    good.edit({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'shop' } }, 'kubectl', (o) => ((o.data as Record<string, string>).v = 'x'));
    await loops[2]?.passNow();
    expect(good.find('ConfigMap', 'a')?.data).toEqual({ v: '1' });
    expect(loops[2]?.status()).toMatchObject({ sync: 'Synced', drifted: 0 });

    // The hung cluster answers again: its loop finishes its pass and reports Synced.
    hung.setMode('up');
    await hungPass;
    expect(loops[0]?.status()).toMatchObject({ sync: 'Synced', health: 'Healthy' });
    expect([...inventories.keys()].sort()).toEqual(['beta@good', 'stable@good', 'stable@hung']);
    await Promise.all(loops.map((l) => l.stop()));
  });

  it('takes over the inventory kept per channel before placements (legacy cluster only) and prunes only what the bundle dropped', async () => {
    const { deps, inventories } = world();
    const fake = new FakeCluster();
    // What the release before wrote: objects labelled with the channel only, inventory under the channel's name.
    for (const name of ['a', 'gone']) await fake.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', labels: { 'airlock.dev/owner': 'stable' } }, data: { v: '0' } });
    await fake.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'airlock.dev/owner': 'stable' } } });
    const legacy: InventoryEntry[] = [
      { key: '/Namespace//shop', apiVersion: 'v1', kind: 'Namespace', name: 'shop' },
      { key: '/ConfigMap/default/gone', apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'gone' },
    ];
    inventories.set('stable', legacy);
    const other = new PlacementLoop('stable', { name: 'cameras', api: new FakeCluster() }, deps());
    await other.passNow();
    expect(inventories.get('stable')).toEqual(legacy); // not the legacy cluster: leaves it alone
    const loop = new PlacementLoop('stable', { name: 'local', api: fake, legacy: true }, deps());
    await loop.passNow();
    expect(loop.status().lastSync).toMatchObject({ ok: true, pruned: ['/ConfigMap/default/gone'] });
    expect(fake.find('Namespace', 'shop')?.metadata?.labels).toMatchObject({ 'airlock.dev/site': 'store-1', 'airlock.dev/cluster': 'local' });
    expect(fake.find('ConfigMap', 'a', 'default')).toBeDefined(); // never in the inventory: never pruned
    expect(inventories.get('stable')).toEqual([]);
    expect(inventories.get('stable@local')?.map((e) => e.key)).toEqual(['/Namespace//shop', '/ConfigMap/shop/a']);
    await Promise.all([loop.stop(), other.stop()]);
  });
});
