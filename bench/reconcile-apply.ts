/**
 * One airlock sync (or check) of a directory of manifests against a cluster, as its own process, for
 * reconcile-bench: node dist/bench/reconcile-apply.js KUBECONFIG DIR apply|check. Prints requests and time as JSON.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Cluster } from '../appliance/reconcile/cluster.js';
import { checkChannel, syncChannel } from '../appliance/reconcile/sync.js';
import { desiredObjects } from '../src/kube/desired.js';
import { type ManifestDocument, parseManifests } from '../src/manifests/documents.js';

const [kubeconfig = '', dir = '', mode = 'apply'] = process.argv.slice(2);
const started = process.hrtime.bigint();
const docs: ManifestDocument[] = [];
for (const f of (await readdir(dir)).sort()) docs.push(...parseManifests(await readFile(join(dir, f), 'utf8'), f));
const desired = desiredObjects(docs, { channel: 'bench', rootDigest: `sha256:${'0'.repeat(64)}`, rules: { registry: '127.0.0.1:5000', held: new Map() } });
const cluster = Cluster.connect(kubeconfig);
if (!cluster) throw new Error('no cluster');
let drifted = 0;
if (mode === 'apply') await syncChannel(cluster, desired, [], { channel: 'bench' });
else drifted = (await checkChannel(cluster, desired)).filter((s) => s.sync !== 'Synced').length;
cluster.close();
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(`${JSON.stringify({ mode, objects: desired.length, reads: cluster.requests.read, writes: cluster.requests.write, drifted, seconds })}\n`);
