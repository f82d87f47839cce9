/**
 * One on-site render and apply of a chart, as the appliance's placement does it, as its own process for
 * chart-bench: node dist/bench/chart-apply.js KUBECONFIG CHART.tgz NAMESPACE COUNT. The chart is expanded with
 * helm template (src/charts/expand.ts), rendered (src/render/placement.ts) and applied by airlock's server-side
 * apply. Prints the object count and time as JSON.
 */
import { readFile } from 'node:fs/promises';
import { Cluster } from '../appliance/reconcile/cluster.js';
import { syncChannel } from '../appliance/reconcile/sync.js';
import { chartExpander } from '../src/charts/expand.js';
import type { ExpandableSource } from '../src/charts/sources.js';
import { Tools } from '../src/charts/tools.js';
import { renderPlacement } from '../src/render/placement.js';

const [kubeconfig = '', chart = '', namespace = 'bench', count = '299'] = process.argv.slice(2);
// Modules are loaded by now: `started` is what a running appliance pays per render and apply.
const started = process.hrtime.bigint();
const source: ExpandableSource = {
  kind: 'chart',
  name: 'bench',
  files: [],
  values: { count },
  chart: { archive: await readFile(chart), config: { name: 'bench', chart: 'bench', version: '1.0.0', from: chart, namespace, releaseName: 'bench', helmValues: ['count: ${count}\n'] } },
};
const site = { name: 'bench', labels: {}, values: {} };
const cluster = { name: 'local', labels: {}, values: {} };
const expander = chartExpander(new Tools());
let expanded = started;
const r = await renderPlacement([source], site, cluster, {
  expandSources: async (...args) => {
    const out = await expander(...args);
    expanded = process.hrtime.bigint();
    return out;
  },
  desired: { channel: 'bench', rootDigest: `sha256:${'0'.repeat(64)}`, rules: { registry: '127.0.0.1:5000', held: new Map() } },
});
if (!r.ok) throw new Error(r.errors.join('\n'));
const api = Cluster.connect(kubeconfig);
if (!api) throw new Error('no cluster');
await syncChannel(api, r.objects, [], { channel: 'bench' });
api.close();
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const expandSeconds = Number(expanded - started) / 1e9;
process.stdout.write(`${JSON.stringify({ objects: r.objects.length, writes: api.requests.write, seconds, expandSeconds })}\n`);
