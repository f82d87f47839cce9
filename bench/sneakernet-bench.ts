/**
 * Sneakernet figures, in one run:
 * - a release that changes one 50 MiB layer in a ≥ 1 GiB set of images: size of the delta bundle (target ≤ 51 MiB
 *   plus manifests)
 * - a Git delta for one new commit: size of its git bundle against that commit's new objects packed by
 *   `git pack-objects` (target ≤ 2×)
 * - what splitting adds to `bundle create`, and joining to an import into the embedded registry (target ≤ 10% each)
 * Images come from an OCI layout of random layers (no registry), so the create figures are the bundler's own.
 * Usage: node dist/bench/sneakernet-bench.js [--runs 3] [--out bench/RESULTS.md]
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BINARY } from '../test/helpers/cli.js';
import { run } from '../test/helpers/exec.js';
import { gitCommit, gitInit } from '../test/helpers/git-repo.js';
import { tagLayout } from '../test/helpers/images.js';
import { splitTar } from '../test/helpers/tar-edit.js';
import { importFromMedia, startAppliance } from './import-bench.js';
import { type Measurement, measure, paired, randomLayer, ratioCell } from './lib.js';
import { updateResults } from './results.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, out: { type: 'string', default: 'bench/RESULTS.md' } } });
const runs = Number(values.runs);
const MiB = 1024 * 1024;
const LAYER = 52 * MiB;
const CHANGED = 50 * MiB;

async function jsonBlob(layout: string, value: unknown, mediaType: string) {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { mediaType, digest, size: bytes.length };
}

async function image(layout: string, layers: { mediaType: string; digest: string; size: number }[], tag: string) {
  const config = await jsonBlob(layout, { os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }, 'application/vnd.oci.image.config.v1+json');
  const manifest = await jsonBlob(layout, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers }, 'application/vnd.oci.image.manifest.v1+json');
  await tagLayout(layout, manifest, tag);
}

const spec = (images: string[]) =>
  `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: bench\n  channel: stable\ndiscoverImages: false\nimages:\n${images.map((i) => `  - oci:./layout:${i}\n`).join('')}git:\n  - name: platform\n    url: ./repo\n    ref: main\n`;

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'airlock-sneakernet-bench-'));
  const k = (n: string) => join(work, n);
  try {
    // 5 images × 4 layers of 52 MiB = 1040 MiB; release 2 replaces one layer of img3 with a new 50 MiB one.
    const layout = k('layout');
    await mkdir(layout, { recursive: true });
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    process.stderr.write('seeding 1040 MiB of layers and a Git repository\n');
    const layers: Awaited<ReturnType<typeof randomLayer>>[][] = [];
    for (let i = 1; i <= 5; i++) {
      const own = [];
      for (let j = 0; j < 4; j++) own.push(await randomLayer(layout, LAYER));
      layers.push(own);
      await image(layout, own, `img${i}:1`);
    }
    const img3 = layers[2] ?? [];
    await image(layout, [img3[0], img3[1], await randomLayer(layout, CHANGED), img3[3]].filter((l) => l !== undefined), 'img3:2');

    const repo = k('repo');
    await gitInit(repo);
    for (let c = 0; c < 40; c++) {
      const files: Record<string, string> = {};
      for (let f = 0; f < 5; f++) files[`manifests/app-${c}-${f}.yaml`] = `# ${randomBytes(6000).toString('base64')}\n`;
      await gitCommit(repo, files, `commit ${c}`);
    }
    const oldCommit = (await run('git', ['-C', repo, 'rev-parse', 'HEAD'])).trim();

    await run(BINARY, ['keys', 'generate', '--out', k('root')]);
    await run(BINARY, ['keys', 'generate', '--out', k('release')]);
    await run(BINARY, ['trust', 'init', '--root-key', k('root.pub'), '--release-key', k('release.pub'), '--sign', k('root.key'), '--out', k('root.json')]);
    await writeFile(k('v1.yaml'), spec(['img1:1', 'img2:1', 'img3:1', 'img4:1', 'img5:1']));
    await writeFile(k('v2.yaml'), spec(['img1:1', 'img2:1', 'img3:2', 'img4:1', 'img5:1']));
    const create = (specFile: string, out: string, extra: string[] = []) =>
      measure(BINARY, ['bundle', 'create', '-f', specFile, '--key', k('release.key'), '-o', out, '--sequence', '1', ...extra]);

    // 1. delta size
    const full = k('v1.airlock');
    await create(k('v1.yaml'), full);
    const fullSize = (await stat(full)).size;
    await gitCommit(repo, { 'manifests/new.yaml': `# ${randomBytes(20_000).toString('base64')}\n`, 'manifests/app-0-0.yaml': `# ${randomBytes(3000).toString('base64')}\n` }, 'one new commit');
    const newCommit = (await run('git', ['-C', repo, 'rev-parse', 'HEAD'])).trim();
    const delta = k('v2-delta.airlock');
    await measure(BINARY, ['bundle', 'create', '-f', k('v2.yaml'), '--key', k('release.key'), '-o', delta, '--sequence', '2', '--base', full]);
    const deltaSize = (await stat(delta)).size;
    const entries = splitTar(await readFile(delta));
    const gitEntry = entries.find((e) => e.body.subarray(0, 16).toString() === '# v2 git bundle\n');
    const metadataBytes = entries.filter((e) => e.body.length < 64 * 1024).reduce((n, e) => n + e.body.length, 0);
    const gitDeltaSize = gitEntry?.body.length ?? NaN;
    const newObjects = await run('sh', ['-c', `git -C ${repo} rev-list --objects ${newCommit} ^${oldCommit} | git -C ${repo} pack-objects --stdout --window=0 | wc -c`]);
    const newObjectsSize = Number(newObjects.trim());

    // 2. split vs whole: create, then import into the embedded registry
    const splitDir = k('split');
    const createWhole = async (): Promise<Measurement> => {
      await rm(k('whole.airlock'), { force: true });
      return create(k('v1.yaml'), k('whole.airlock'));
    };
    const createSplit = async (): Promise<Measurement> => {
      await rm(splitDir, { recursive: true, force: true });
      await mkdir(splitDir);
      return create(k('v1.yaml'), join(splitDir, 'v1.airlock'), ['--split-size', '256MiB']);
    };
    const createPair = await paired(runs, createSplit, createWhole);
    const { ours: splitCreate, peer: wholeCreate } = createPair;
    const parts = (await readdir(splitDir)).filter((n) => /\.\d{3}$/.test(n)).length;

    const media = k('media');
    await mkdir(media, { recursive: true });
    await run('ln', ['-f', k('whole.airlock'), join(media, 'whole.airlock')]);
    await run('cp', ['-al', splitDir, join(media, 'split')]);
    let n = 0;
    const importOf = (path: string) => async (): Promise<Measurement> => {
      const dir = k(`appliance-${n++}`);
      const app = await startAppliance(dir, k('root.json'), media);
      const seconds = await importFromMedia(app, path);
      const rss = await app.stop();
      await rm(dir, { recursive: true, force: true });
      return { seconds, maxRssKiB: rss };
    };
    const importPair = await paired(runs, importOf('split'), importOf('whole.airlock'));
    const { ours: splitImport, peer: wholeImport } = importPair;

    const met = (ok: boolean) => (ok ? '(met)' : '(missed)');
    const deltaOk = deltaSize <= 51 * MiB + metadataBytes;
    const body = [
      `Images: 5 × 4 random layers of 52 MiB (${(fullSize / MiB).toFixed(0)} MiB full bundle); release 2 replaces one layer of one image with a new 50 MiB layer. Git: 40 commits of manifests, then one new commit. Times: ${runs} back-to-back pairs of runs (ABBA order), the median run of each; the figure is the median of the pairs' ratios.`,
      '',
      '| measure | airlock | reference | result | target |',
      '|---|---|---|---|---|',
      `| delta bundle for one changed 50 MiB layer (\`--base v1.airlock\`) | ${(deltaSize / MiB).toFixed(2)} MiB | full bundle ${(fullSize / MiB).toFixed(0)} MiB; manifests and configs ${(metadataBytes / 1024).toFixed(1)} KiB | **${(deltaSize / MiB).toFixed(2)} MiB** ${met(deltaOk)} | ≤ 51 MiB + manifests |`,
      `| Git delta for one new commit (git bundle in the delta) | ${(gitDeltaSize / 1024).toFixed(1)} KiB | that commit's new objects, \`git pack-objects --window=0\`: ${(newObjectsSize / 1024).toFixed(1)} KiB | **${(gitDeltaSize / newObjectsSize).toFixed(2)}×** ${met(gitDeltaSize <= 2 * newObjectsSize)} | ≤ 2× |`,
      `| \`bundle create --split-size 256MiB\` (${parts} parts) vs one file | ${splitCreate.seconds.toFixed(2)} s | ${wholeCreate.seconds.toFixed(2)} s | ${ratioCell(createPair, 1.1, { asPercent: true })} | ≤ +10% |`,
      `| import of the parts directory vs the one file (embedded registry) | ${splitImport.seconds.toFixed(2)} s | ${wholeImport.seconds.toFixed(2)} s | ${ratioCell(importPair, 1.1, { asPercent: true })} | ≤ +10% |`,
      '',
      `Peak RSS: create split ${(splitCreate.maxRssKiB / 1024).toFixed(0)} MiB, whole ${(wholeCreate.maxRssKiB / 1024).toFixed(0)} MiB; appliance importing parts ${(splitImport.maxRssKiB / 1024).toFixed(0)} MiB, one file ${(wholeImport.maxRssKiB / 1024).toFixed(0)} MiB.`,
    ].join('\n');
    process.stdout.write(`${body}\n`);
    await updateResults(values.out ?? 'bench/RESULTS.md', 'sneakernet', '## Deltas, split parts', body);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
