/**
 * Placements side by side: a steady-state check (nothing drifted) of 3 real kube-apiservers × 1,010 objects, one
 * placement loop each, running at once, against the same check of 1 cluster × 1,010 objects. Requests, time (the
 * three run in parallel, so the target is ≤ 3.3× the one-cluster time), writes (must be 0) and peak RSS.
 * Usage: node dist/bench/placement-bench.js [--runs 3] [--out bench/RESULTS.md]
 */
import { parseArgs } from 'node:util';
import { Cluster } from '../appliance/reconcile/cluster.js';
import { PlacementLoop, type PlacementDeps } from '../appliance/reconcile/placement.js';
import type { InventoryEntry } from '../appliance/reconcile/sync.js';
import { desiredObjects } from '../src/kube/desired.js';
import { parseManifests } from '../src/manifests/documents.js';
import { type TestCluster, startCluster } from '../test/helpers/kube.js';
import { mib } from './lib.js';
import { updateResults } from './results.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, out: { type: 'string', default: 'bench/RESULTS.md' } } });
const runs = Number(values.runs);

const yaml = [
  ...Array.from({ length: 10 }, (_, n) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-${n}\n`),
  ...Array.from({ length: 1000 }, (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-${i % 100}\n  namespace: bench-${Math.floor(i / 100)}\ndata:\n  index: "${i}"\n  text: "${'x'.repeat(200)}"\n`),
].join('---\n');

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  const kubes: TestCluster[] = [];
  try {
    for (let i = 0; i < 3; i++) kubes.push(await startCluster());
    const inventories = new Map<string, InventoryEntry[]>();
    const deps: PlacementDeps = {
      site: 'bench',
      rootInForce: () => 'sha256:bench',
      load: async (channel, cluster, root) => desiredObjects(parseManifests(yaml, 'bench.yaml'), { channel, rootDigest: root, rules: { registry: '127.0.0.1:5000', held: new Map() }, placement: { site: 'bench', cluster } }),
      inventory: (id) => inventories.get(id) ?? [],
      setInventory: (id, e) => void inventories.set(id, e),
      audit: () => undefined,
      log: quiet,
      now: () => new Date(),
      random: Math.random,
      intervalMs: 3_600_000,
      selfHeal: true,
      forceConflicts: false,
    };
    const apis = kubes.map((k) => Cluster.connect(k.kubeconfig) as Cluster);
    const loops = apis.map((api, i) => new PlacementLoop('stable', { name: `c${i}`, api }, deps));
    await Promise.all(loops.map((l) => l.passNow())); // first sync of each
    for (const l of loops) if (l.status().sync !== 'Synced') throw new Error(`${l.id}: ${l.status().reason ?? l.status().sync}`);

    const pass = async (which: PlacementLoop[]) => {
      const before = apis.map((a) => ({ ...a.requests }));
      const started = process.hrtime.bigint();
      await Promise.all(which.map((l) => l.passNow()));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const reads = apis.reduce((n, a, i) => n + a.requests.read - (before[i]?.read ?? 0), 0);
      const writes = apis.reduce((n, a, i) => n + a.requests.write - (before[i]?.write ?? 0), 0);
      const drifted = which.reduce((n, l) => n + l.status().drifted, 0);
      return { seconds, reads, writes, drifted };
    };
    const one: Awaited<ReturnType<typeof pass>>[] = [];
    const three: Awaited<ReturnType<typeof pass>>[] = [];
    for (let r = 0; r < runs; r++) {
      one.push(await pass(loops.slice(0, 1)));
      three.push(await pass(loops));
    }
    const t1 = median(one.map((m) => m.seconds));
    const t3 = median(three.map((m) => m.seconds));
    const ratios = one.map((m, i) => (three[i]?.seconds ?? 0) / m.seconds);
    const maxRss = process.resourceUsage().maxRSS;
    const body = [
      `Three real kube-apiservers 1.20 (each with its own etcd and controller manager, all on this 2-core machine), 1,010 objects each (10 Namespaces, 1,000 ConfigMaps), one placement loop per cluster in one process; a steady-state pass (every object read back, nothing drifted) of one placement, then of the three at once; ${runs} back-to-back pairs (times: median; ratio: median of the pairs' ratios, range in brackets).`,
      '',
      '| measure | 1 cluster × 1,010 | 3 clusters × 1,010 | ratio | target |',
      '|---|---|---|---|---|',
      `| steady-state check | ${t1.toFixed(2)} s, ${one[0]?.reads ?? 0} GETs, **${one[0]?.writes ?? 0} writes** | ${t3.toFixed(2)} s, ${three[0]?.reads ?? 0} GETs, **${three[0]?.writes ?? 0} writes** | ${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) | ≤ 3.3×, 0 writes |`,
      '',
      `Drifted objects reported: ${one.map((m) => m.drifted).join(', ')} (1 cluster), ${three.map((m) => m.drifted).join(', ')} (3 clusters). Peak RSS of the process holding the three loops: ${mib(maxRss)}.`,
    ].join('\n');
    process.stdout.write(`${body}\n`);
    await Promise.all(loops.map((l) => l.stop()));
    for (const a of apis) a.close();
    await updateResults(values.out ?? 'bench/RESULTS.md', 'placements', '## Placements', body);
  } finally {
    for (const k of kubes) await k.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
