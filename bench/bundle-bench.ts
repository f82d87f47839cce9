/**
 * Bundle create, verify and appliance import against their peers, in one run, as ratios.
 * - `airlock bundle create` vs `skopeo copy --all docker://… oci:DIR` for the same images
 * - `airlock bundle verify` vs `openssl dgst -sha256` over the same bytes
 * Peak RSS of each from GNU time. Seeds a local docker-registry with ≥ 1 GiB of layers in several images that
 * share some layers. Usage: node dist/bench/bundle-bench.js [--gib 1] [--runs 3] [--out bench/RESULTS.md] [--skip-import]
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BINARY } from '../test/helpers/cli.js';
import { run } from '../test/helpers/exec.js';
import { skopeoPush, tagLayout } from '../test/helpers/images.js';
import { startRegistry } from '../test/helpers/registry.js';
import { loadCell, measure, mib, paired, randomLayer, ratioCell } from './lib.js';
import { importBench } from './import-bench.js';
import { updateResults } from './results.js';

const { values } = parseArgs({ options: { gib: { type: 'string', default: '1' }, runs: { type: 'string', default: '3' }, out: { type: 'string', default: 'bench/RESULTS.md' }, 'skip-import': { type: 'boolean', default: false } } });
const MiB = 1024 * 1024;
const total = Number(values.gib) * 1024 * MiB;
const runs = Number(values.runs);

async function writeJsonBlob(layout: string, value: unknown, mediaType: string) {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { mediaType, digest, size: bytes.length };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'airlock-bench-'));
  const registry = await startRegistry();
  try {
    // Three images share a base layer (a quarter of the total); each adds two layers of its own.
    const layout = join(work, 'seed');
    await mkdir(layout, { recursive: true });
    const baseSize = Math.floor(total / 4);
    const ownSize = Math.floor((total - baseSize) / 6);
    process.stderr.write(`seeding ${registry.host} with ${(total / MiB).toFixed(0)} MiB of layers\n`);
    const base = await randomLayer(layout, baseSize);
    const images: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const layers = [base, await randomLayer(layout, ownSize), await randomLayer(layout, ownSize)];
      const config = await writeJsonBlob(layout, { os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }, 'application/vnd.oci.image.config.v1+json');
      const manifest = await writeJsonBlob(layout, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers }, 'application/vnd.oci.image.manifest.v1+json');
      await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      await tagLayout(layout, manifest, `img${i}`);
      await skopeoPush(layout, `img${i}`, `${registry.host}/bench/img${i}:1`);
      images.push(`${registry.host}/bench/img${i}:1`);
    }
    await rm(layout, { recursive: true, force: true });

    // keys and trust
    const k = (n: string) => join(work, n);
    await run(BINARY, ['keys', 'generate', '--out', k('root')]);
    await run(BINARY, ['keys', 'generate', '--out', k('release')]);
    await run(BINARY, ['trust', 'init', '--root-key', k('root.pub'), '--release-key', k('release.pub'), '--sign', k('root.key'), '--out', k('root.json')]);
    await writeFile(k('airlock.yaml'), `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: bench\nimages:\n${images.map((i) => `  - ${i}\n`).join('')}`);

    const bundle = k('bench.airlock');
    const create = (spec: string, out: string) => async () => {
      await rm(out, { force: true });
      return measure(BINARY, ['bundle', 'create', '-f', spec, '--key', k('release.key'), '-o', out]);
    };
    const skopeoAll = async () => {
      const dir = k('skopeo-oci');
      await rm(dir, { recursive: true, force: true });
      const script = images.map((i, n) => `skopeo copy --quiet --all --src-tls-verify=false docker://${i} oci:${dir}:img${n + 1}`).join(' && ');
      return measure('sh', ['-c', script]);
    };
    const verify = (file: string) => () => measure(BINARY, ['bundle', 'verify', file, '--trust', k('root.json')]);
    const createPair = await paired(runs, create(k('airlock.yaml'), bundle), skopeoAll);
    const ourCreate = createPair.ours;
    await rm(k('skopeo-oci'), { recursive: true, force: true });
    const size = (await stat(bundle)).size;
    const verifyPair = await paired(runs, verify(bundle), () => measure('openssl', ['dgst', '-sha256', bundle]));
    const ourVerify = verifyPair.ours;

    // Memory must not grow with the bundle: the same commands on a bundle of one image (half the bytes).
    await writeFile(k('small.yaml'), `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: bench-small\nimages:\n  - ${images[0]}\n`);
    const smallCreate = await create(k('small.yaml'), k('small.airlock'))();
    const smallSize = (await stat(k('small.airlock'))).size;
    const smallVerify = await verify(k('small.airlock'))();

    const rows = [
      { what: '`bundle create` vs `skopeo copy --all docker:// oci:`', pair: createPair, target: '≤ 0.5×', limit: 0.5 },
      { what: '`bundle verify` vs `openssl dgst -sha256`', pair: verifyPair, target: '≤ 0.6×', limit: 0.6 },
    ];
    const table = [
      `Bundle of ${(size / MiB).toFixed(0)} MiB (3 images, ${(total / MiB).toFixed(0)} MiB of distinct layers, one layer shared by all three), median of ${runs} runs, ${new Date().toISOString().slice(0, 10)}, ${process.version}, 2 cores.`,
      '',
      '| comparison | airlock | peer | ratio | target | airlock peak RSS (target ≤ 128 MiB) | peer peak RSS | load (1 min) |',
      '|---|---|---|---|---|---|---|---|',
      ...rows.map(({ what, pair, target, limit }) => {
        return `| ${what} | ${pair.ours.seconds.toFixed(2)} s | ${pair.peer.seconds.toFixed(2)} s | ${ratioCell(pair, limit)} | ${target} | ${mib(pair.ours.maxRssKiB)} ${pair.ours.maxRssKiB <= 128 * 1024 ? '(met)' : '(missed)'} | ${mib(pair.peer.maxRssKiB)} | ${loadCell(pair)} |`;
      }),
      '',
      'Peak RSS against bundle size (flat means no blob is held in memory):',
      '',
      '| bundle size | `bundle create` peak RSS | `bundle verify` peak RSS |',
      '|---|---|---|',
      `| ${(smallSize / MiB).toFixed(0)} MiB | ${mib(smallCreate.maxRssKiB)} | ${mib(smallVerify.maxRssKiB)} |`,
      `| ${(size / MiB).toFixed(0)} MiB | ${mib(ourCreate.maxRssKiB)} | ${mib(ourVerify.maxRssKiB)} |`,
      '',
      'Runs go in back-to-back pairs (ABBA order, dirty pages flushed before each run); times are the median run of each,',
      'the ratio is the median of the pairs\' ratios, with the range of the pairs beside it. Single runs vary by ±20% on',
      'this shared machine; the two runs of a pair see the same moment of it.',
    ].join('\n');
    process.stdout.write(`${table}\n`);
    await updateResults(values.out ?? 'bench/RESULTS.md', 'bundle', '## Bundle create and verify (`bench/bundle-bench.ts`)', table);

    if (values['skip-import']) return;
    process.stderr.write('import benchmarks\n');
    const imports = await importBench({ work, bundle, trustPath: k('root.json'), refs: images, runs });
    process.stdout.write(`${imports}\n`);
    await updateResults(values.out ?? 'bench/RESULTS.md', 'import', '## Appliance import (`bench/import-bench.ts`)', imports);
  } finally {
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});

