/** Builds small signed bundles for tests from images in an OCI layout (no registry needed). */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle, type BuildResult } from '../../bundler/build.js';
import { parseSpec } from '../../bundler/spec.js';
import type { SecretKey } from '../../keys/key-file.js';
import { tagLayout, writeImage, writeLayer } from './images.js';

export interface LayoutBundle {
  dir: string;
  path: string;
  result: BuildResult;
}

/** Two images sharing a base layer, plus one manifest set. */
export async function layoutBundle(
  keys: SecretKey[],
  { sequence = 1, expires, channel = 'stable', now, layerSizes = [3000, 1500, 700] }: { sequence?: number; expires?: string; channel?: string; now?: Date; layerSizes?: number[] } = {},
): Promise<LayoutBundle> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-bundle-'));
  const layout = join(dir, 'layout');
  const [baseSize = 3000, webSize = 1500, workerSize = 700] = layerSizes;
  const base = await writeLayer(layout, baseSize);
  await tagLayout(layout, await writeImage(layout, [base, await writeLayer(layout, webSize)]), 'web:1');
  await tagLayout(layout, await writeImage(layout, [base, await writeLayer(layout, workerSize)]), 'worker:1');
  await mkdir(join(dir, 'k8s'));
  await writeFile(join(dir, 'k8s', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: "1"\n');
  const text = `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: tamper-test\n  channel: ${channel}\ndiscoverImages: false\nimages:\n  - oci:./layout:web:1\n  - oci:./layout:worker:1\nmanifests:\n  - ./k8s\n`;
  await writeFile(join(dir, 'airlock.yaml'), text);
  const spec = parseSpec(text, join(dir, 'airlock.yaml'));
  const path = join(dir, 'out.airlock');
  const result = await buildBundle({ spec, keys, out: path, sequence, ...(expires ? { expires } : {}), ...(now ? { now } : {}) });
  return { dir, path, result };
}
