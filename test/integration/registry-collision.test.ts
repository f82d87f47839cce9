/**
 * Two images of one spec that the appliance would serve under the same `repository:tag` (the registry host is
 * dropped on site): the build stops before anything is written and names both spec entries with their lines.
 */
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { skopeoDigest, skopeoPush, tagLayout, writeImage, writeLayer } from '../helpers/images.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';

let work: string;
let registry: TestRegistry;
const k = (name: string) => join(work, name);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-collide-'));
  registry = await startRegistry();
  const layout = k('images');
  await tagLayout(layout, await writeImage(layout, [await writeLayer(layout, 20_000)]), 'store/web:1.0');
  await tagLayout(layout, await writeImage(layout, [await writeLayer(layout, 20_000)]), 'other');
  await skopeoPush(layout, 'other', `${registry.host}/store/web:1.0`); // different content, same repository:tag
  await skopeoPush(layout, 'store/web:1.0', `${registry.host}/mirror/store/web:1.0`);
  await skopeoPush(layout, 'store/web:1.0', `${registry.host}/store/api:1.0`);
  expect((await cli(['keys', 'generate', '--out', k('release')])).code).toBe(0);
});

afterAll(async () => {
  await registry?.stop();
});

async function build(name: string, images: string[]) {
  await writeFile(k(`${name}.yaml`), `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: ${name}\ndiscoverImages: false\nimages:\n${images.map((i) => `  - ${i}\n`).join('')}`);
  return cli(['bundle', 'create', '-f', k(`${name}.yaml`), '--key', k('release.key'), '-o', k(`${name}.airlock`), '--sequence', '1', '--json']);
}

describe('images served under one repository:tag', () => {
  it('fail the build naming both entries (file:line), and nothing is written', async () => {
    const r = await build('clash', [`oci:./images:store/web:1.0`, `${registry.host}/store/api:1.0`, `${registry.host}/store/web:1.0`]);
    expect(r.code).not.toBe(0);
    const text = r.stderr + r.stdout;
    expect(text).toContain('SPEC_INVALID');
    expect(text).toContain('two images would be served as store/web:1.0');
    expect(text).toContain(`store/web:1.0 (${k('clash.yaml')}:7,`);
    expect(text).toContain(`${registry.host}/store/web:1.0 (${k('clash.yaml')}:9, ${await skopeoDigest(`${registry.host}/store/web:1.0`)})`);
    expect((await readdir(work)).filter((f) => f.startsWith('clash.airlock') || f.startsWith('.airlock-build-'))).toEqual([]);
  });

  it('pass when both names carry the same image (kept once), or when the repositories differ', async () => {
    const port = registry.host.split(':')[1] ?? '';
    const same = await build('same', [`${registry.host}/store/web:1.0`, `localhost:${port}/store/web:1.0`]);
    expect(same.code, same.stderr).toBe(0);
    expect((JSON.parse(same.stdout) as { images: unknown[] }).images).toHaveLength(1);
    const apart = await build('apart', [`oci:./images:store/web:1.0`, `${registry.host}/mirror/store/web:1.0`, `${registry.host}/store/api:1.0`]);
    expect(apart.code, apart.stderr).toBe(0);
    expect((JSON.parse(apart.stdout) as { images: unknown[] }).images).toHaveLength(3);
  });
});
