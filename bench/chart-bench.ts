/**
 * Charts on site against a real kube-apiserver, in one run: the on-site render plus apply of a 300-object chart
 * (helm template through airlock's expander, the pure render, airlock's server-side apply) against
 * `helm template | kubectl apply --server-side` of the same chart and values, each run into a fresh namespace,
 * as a ratio (target ≤ 1.0×). Usage: node dist/bench/chart-bench.js [--runs 3] [--out bench/RESULTS.md]
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { run } from '../test/helpers/exec.js';
import { startCluster } from '../test/helpers/kube.js';
import { type Measurement, measure, mib, paired, ratioCell } from './lib.js';
import { updateResults } from './results.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, out: { type: 'string', default: 'bench/RESULTS.md' } } });
const runs = Number(values.runs);
const here = new URL('.', import.meta.url).pathname;
const root = join(here, '..', '..');

/** helm and kubectl as the tests get them (test/setup/kube-tools.sh), first on PATH. */
const tools = execFileSync('bash', [join(root, 'test/setup/kube-tools.sh')], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
process.env.PATH = `${tools}:${process.env.PATH ?? ''}`;

/** A chart of one Namespace (the release's) and COUNT ConfigMaps in it. */
async function makeChart(dir: string): Promise<string> {
  const chart = join(dir, 'bench');
  await mkdir(join(chart, 'templates'), { recursive: true });
  await writeFile(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: bench\nversion: 1.0.0\n');
  await writeFile(join(chart, 'values.yaml'), 'count: 299\n');
  await writeFile(join(chart, 'templates', 'namespace.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ .Release.Namespace }}\n');
  await writeFile(
    join(chart, 'templates', 'configmaps.yaml'),
    `{{- range $i := until (int .Values.count) }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-{{ $i }}\n  namespace: {{ $.Release.Namespace }}\ndata:\n  index: "{{ $i }}"\n  text: "${'x'.repeat(200)}"\n{{- end }}\n`,
  );
  await run('helm', ['package', chart, '--destination', dir]);
  return join(dir, 'bench-1.0.0.tgz');
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'airlock-chart-bench-'));
  const kube = await startCluster();
  try {
    const archive = await makeChart(work);
    const helmVersion = (await run('helm', ['version', '--template', '{{.Version}}'])).trim();
    const kubectlVersion = (JSON.parse(await run('kubectl', ['version', '--client', '-o', 'json'])) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion ?? '';
    let n = 0;
    const airlock = async (): Promise<Measurement> => measure(process.execPath, [join(here, 'chart-apply.js'), kube.kubeconfig, archive, `a${n++}`, '299'], { PATH: process.env.PATH ?? '' });
    const peer = async (): Promise<Measurement> =>
      measure('sh', ['-c', `helm template bench "${archive}" --namespace k${n++} --set count=299 | kubectl --kubeconfig "${kube.kubeconfig}" apply --server-side --field-manager=bench -f - >/dev/null`], { PATH: process.env.PATH ?? '' });
    const pair = await paired(runs, airlock, peer);
    // In process (modules loaded, as in a running appliance), against the peer's median.
    const inProcess: { objects: number; writes: number; seconds: number; expandSeconds: number }[] = [];
    for (let i = 0; i < runs; i++) inProcess.push(JSON.parse(await run(process.execPath, [join(here, 'chart-apply.js'), kube.kubeconfig, archive, `p${i}`, '299'])) as (typeof inProcess)[number]);
    const once = [...inProcess].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs / 2)] ?? { objects: 0, writes: 0, seconds: 0, expandSeconds: 0 };
    const load = (await run('cat', ['/proc/loadavg'])).split(' ')[0];
    const body = [
      `A real kube-apiserver (as in the tests); helm ${helmVersion}, kubectl ${kubectlVersion}. A chart of ${once.objects} objects (its release Namespace and 299 ConfigMaps), each run into a fresh namespace; ${runs} back-to-back pairs (times: median run; ratio: median of the pairs' ratios), process start included.`,
      '',
      '| measure | airlock | peer | ratio | target |',
      '|---|---|---|---|---|',
      `| on-site render (helm template via the expander, the pure render) + apply, vs \`helm template \\| kubectl apply --server-side\`, each a new process | ${pair.ours.seconds.toFixed(2)} s | ${pair.peer.seconds.toFixed(2)} s | ${ratioCell(pair, 1)} | ≤ 1.0× |`,
      `| the same in a running process (modules loaded, as in the appliance; median of ${runs}), vs the peer's median | ${once.seconds.toFixed(2)} s (helm template ${once.expandSeconds.toFixed(2)} s) | ${pair.peer.seconds.toFixed(2)} s | ${(once.seconds / pair.peer.seconds).toFixed(2)}× | ≤ 1.0× |`,
      '',
      `Load average at the end: ${load} on this shared 2-core machine: absolute times are slow and noisy, ratios of back-to-back pairs less so.`,
      '',
      `airlock's apply of this chart sent ${once.writes} writes (a server-side dry run of what can be checked first, then one apply per object, eight at a time within a step of the order). Peak RSS: airlock ${mib(pair.ours.maxRssKiB)} (with helm), helm + kubectl ${mib(pair.peer.maxRssKiB)}.`,
    ].join('\n');
    process.stdout.write(`${body}\n`);
    await updateResults(values.out ?? 'bench/RESULTS.md', 'charts', '## Charts', body);
  } finally {
    await kube.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
