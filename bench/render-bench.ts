/**
 * The render (issue 12, item 7). (1) 1,000 objects with 20 overrides (a value and a patch each) rendered for one
 * cluster by `airlock render` (the executable, reading a bundle file without --trust), against `kubectl kustomize` of an
 * equivalent overlay (the same 20 patches as JSON 6902 patches) piped through `envsubst` (the same values), in
 * back-to-back pairs; target ≤ 0.5×. (2) One bundle rendered for 1,000 different site files in one process (the
 * library `airlock render` runs): time per site and peak RSS. Writes the `render` section of bench/RESULTS.md.
 * Usage: npx tsc -p tsconfig.json && node dist/bench/render-bench.js [--runs 5 (0: no comparison)] [--sites 1000] [--out bench/RESULTS.md]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { buildBundle } from '../bundler/build.js';
import { loadBundleForRender, renderBundleForCluster } from '../bundler/render-bundle.js';
import { parseSpec } from '../bundler/spec.js';
import { parseSiteFile } from '../src/site/site-file.js';
import { BINARY } from '../test/helpers/cli.js';
import { exec } from '../test/helpers/exec.js';
import { makeTrust } from '../test/helpers/trust.js';
import { type Paired, loadCell, measure, mib, paired, ratioCell } from './lib.js';
import { updateResults } from './results.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'bench/RESULTS.md' }, runs: { type: 'string', default: '5' }, sites: { type: 'string', default: '1000' }, kubectl: { type: 'string', default: '/var/cache/airlock-tools/kubectl-v33-2.2.2/kubectl' } } });
const runs = Number(values.runs);
const siteCount = Number(values.sites);
const OBJECTS = 1000;
const OVERRIDES = 20;

/** 1,000 objects in 10 files: ConfigMaps and Deployments, each with values to substitute. */
function baseFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (let f = 0; f < 10; f++) {
    const docs: string[] = [];
    for (let i = f * 100; i < (f + 1) * 100; i++) {
      if (i % 2 === 0) {
        docs.push(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-${i}\n  namespace: shop\ndata:\n  store: "\${storeNumber}"\n  setting: "\${v${i % OVERRIDES}}"\n  text: "${'x'.repeat(100)}"\n`);
      } else {
        docs.push(
          `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-${i}\n  namespace: shop\n  labels: {app: web-${i}}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web-${i}}}\n  template:\n    metadata: {labels: {app: web-${i}}}\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com/shop/web:1.0\n          env:\n            - {name: STORE, value: "\${storeNumber}"}\n            - {name: GATEWAY, value: "\${gateway}"}\n`,
        );
      }
    }
    files[`objects-${f}.yaml`] = docs.join('---\n');
  }
  return files;
}

const target = (n: number) => ({ kind: 'Deployment', name: `web-${n * 2 + 1}`, namespace: 'shop' });

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-render-bench-'));
  try {
    const base = join(dir, 'base');
    await mkdir(base);
    for (const [name, text] of Object.entries(baseFiles())) await writeFile(join(base, name), text);
    const vars: Record<string, string> = { storeNumber: '0042', gateway: '10.0.0.1' };
    for (let n = 0; n < OVERRIDES; n++) vars[`v${n}`] = `value-${n}`;

    // airlock: one spec, 20 overrides (each a value and a patch), for a cluster they all match
    const overrides = Array.from({ length: OVERRIDES }, (_, n) =>
      `      - clusterSelector: {matchLabels: {tier: large}}\n        values: {v${n}: "value-${n}"}\n        patches:\n          - {target: {kind: Deployment, name: ${target(n).name}, namespace: shop}, op: replace, path: /spec/replicas, value: 3}\n`,
    ).join('');
    const spec = `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata: {name: bench, channel: stable}\ndiscoverImages: false\nmanifests:\n  - path: ./base\n    overrides:\n${overrides}`;
    const specPath = join(dir, 'airlock.yaml');
    await writeFile(specPath, spec);
    const trust = makeTrust();
    await writeFile(join(dir, 'root.json'), trust.text);
    const bundle = join(dir, 'bench.airlock');
    await buildBundle({ spec: parseSpec(spec, specPath), keys: trust.release, out: bundle, sequence: 1 });
    const siteText = (name: string, store: string) =>
      `apiVersion: airlock.dev/v1\nkind: Site\nmetadata: {name: ${name}}\nvalues: {storeNumber: "${store}", gateway: "10.0.0.1"}\nregistryHost: registry.${name}.local:5000\nclusters:\n  - {name: pos, kubeconfig: /dev/null, labels: {tier: large}}\n`;
    const site = join(dir, 'site.yaml');
    await writeFile(site, siteText('store-0042', '0042'));

    // kustomize: the same 1,000 objects, the same 20 patches, then envsubst with the same values
    const overlay = join(dir, 'overlay');
    await mkdir(overlay);
    await writeFile(join(base, 'kustomization.yaml'), `resources:\n${Object.keys(baseFiles()).map((f) => `  - ${f}\n`).join('')}`);
    await writeFile(
      join(overlay, 'kustomization.yaml'),
      `resources:\n  - ../base\npatches:\n${Array.from({ length: OVERRIDES }, (_, n) => `  - target: {kind: Deployment, name: ${target(n).name}, namespace: shop}\n    patch: |-\n      - {op: replace, path: /spec/replicas, value: 3}\n`).join('')}`,
    );
    const script = join(dir, 'kustomize.sh');
    await writeFile(script, `#!/bin/sh\nset -e\n"${values.kubectl ?? ''}" kustomize "${overlay}" | envsubst\n`, { mode: 0o755 });
    const envsubstEnv = { ...vars };

    // Both give the same objects: as many, 20 patched to 3 replicas, every value substituted (checked, not timed).
    const ours = await exec(process.execPath, [BINARY, 'render', bundle, '--site', site, '--json']);
    const theirs = await exec(script, [], { env: envsubstEnv });
    if (ours.code !== 0 || theirs.code !== 0) throw new Error(`a render failed: ${ours.stderr}${theirs.stderr}`);
    const ourObjects = (JSON.parse(ours.stdout) as { clusters: { objects: { spec?: { replicas?: number } }[] }[] }).clusters[0]?.objects ?? [];
    const theirObjects = parseAllDocuments(theirs.stdout).map((d) => d.toJS() as { spec?: { replicas?: number } });
    const three = (xs: { spec?: { replicas?: number } }[]) => xs.filter((o) => o.spec?.replicas === 3).length;
    if (ourObjects.length !== OBJECTS || theirObjects.length !== OBJECTS || three(ourObjects) !== OVERRIDES || three(theirObjects) !== OVERRIDES || theirs.stdout.includes('${') || ours.stdout.includes('${')) {
      throw new Error(`the two renders differ: airlock ${ourObjects.length} objects (${three(ourObjects)} patched), kustomize ${theirObjects.length} (${three(theirObjects)} patched)`);
    }

    let p: Paired | undefined;
    if (runs > 0) {
      p = await paired(
        runs,
        () => measure(process.execPath, [BINARY, 'render', bundle, '--site', site]),
        () => measure(script, [], envsubstEnv),
      );
      console.log(`render of ${OBJECTS} objects, ${OVERRIDES} overrides (value + patch each), one cluster:`);
      console.log(`  airlock render (read + render):   ${p.ours.seconds.toFixed(3)} s, peak RSS ${mib(p.ours.maxRssKiB)}`);
      console.log(`  kubectl kustomize | envsubst:     ${p.peer.seconds.toFixed(3)} s, peak RSS ${mib(p.peer.maxRssKiB)}`);
      console.log(`  ratio ${p.ratio.toFixed(2)}× (target ≤ 0.5×; pairs ${Math.min(...p.ratios).toFixed(2)}–${Math.max(...p.ratios).toFixed(2)}×)`);
    }

    // One bundle, many site files, one process.
    const loaded = await loadBundleForRender(bundle, undefined, new Date());
    const started = process.hrtime.bigint();
    let objects = 0;
    for (let s = 0; s < siteCount; s++) {
      const store = String(s).padStart(4, '0');
      const parsed = parseSiteFile(siteText(`store-${store}`, store), `site-${store}.yaml`);
      for (const cluster of parsed.clusters) {
        const r = await renderBundleForCluster(loaded, parsed, cluster);
        if (!r.ok) throw new Error(r.errors.join('; '));
        objects += r.objects.length;
      }
      if ((s + 1) % 100 === 0) console.log(`  ${s + 1} sites: ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s, peak RSS ${mib(process.resourceUsage().maxRSS)}`);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(`airlock render of one bundle for ${siteCount} site files in one process: ${seconds.toFixed(1)} s, ${((seconds / siteCount) * 1000).toFixed(1)} ms per site, ${objects} objects, peak RSS ${mib(process.resourceUsage().maxRSS)}`);
    if (p && values.out) {
      const body = [
        `1,000 objects (500 ConfigMaps, 500 Deployments in 10 files) with 20 overrides (a value and a JSON patch each) and two site values, rendered for one cluster; peer: \`kubectl kustomize\` (v1.33, from the pinned tarball) of an overlay with the same 20 patches piped through \`envsubst\` with the same values. Both outputs are checked equal in count, patches and substitution before timing. ${runs} back-to-back pairs (times: median run; ratio: median of the pairs' ratios), process start included; load average ${loadCell(p)} on 2 cores, ${new Date().toISOString().slice(0, 16)}Z.`,
        '',
        '| measure | airlock | peer | ratio | target |',
        '|---|---|---|---|---|',
        `| \`airlock render BUNDLE --site site.yaml\` vs \`kubectl kustomize \\| envsubst\` | ${p.ours.seconds.toFixed(2)} s, peak RSS ${mib(p.ours.maxRssKiB)} | ${p.peer.seconds.toFixed(2)} s, peak RSS ${mib(p.peer.maxRssKiB)} | ${ratioCell(p, 0.5)} | ≤ 0.5× |`,
        `| one bundle for ${siteCount} site files in one process (the library \`airlock render\` runs) | ${((seconds / siteCount) * 1000).toFixed(0)} ms per site, peak RSS ${mib(process.resourceUsage().maxRSS)} | | | |`,
        '',
        'airlock parses with js-yaml under the `yaml` library\'s core-schema rules (the `yaml` library itself for anchors, tags and unusual keys, and for every error message) and writes YAML directly (src/yaml-load.ts, src/yaml-emit.ts); each command loads only its own modules.',
      ].join('\n');
      await updateResults(values.out, 'render', '## Render', body);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
