/** containerd's `ctr` pulls (and unpacks) an image from the appliance's embedded registry, digests unchanged. */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../bundler/build.js';
import { parseSpec } from '../../bundler/spec.js';
import { run } from '../helpers/exec.js';
import { type Site, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { type TestContainerd, startContainerd } from '../helpers/containerd.js';
import { tagLayout, writeBlob, writeImage } from '../helpers/images.js';

let site: Site;
let containerd: TestContainerd;
let app: Awaited<ReturnType<typeof start>>;
let manifestDigest: string;

beforeAll(async () => {
  site = await makeSite({ layerSize: 3000 });
  containerd = await startContainerd();
  app = await start(site);
  // An image whose layer is a real gzip'd tar made by tar(1), so that containerd can unpack it.
  const work = await mkdtemp(join(tmpdir(), 'airlock-ctr-'));
  await mkdir(join(work, 'rootfs', 'etc'), { recursive: true });
  await writeFile(join(work, 'rootfs', 'etc', 'motd'), 'pulled from an airlock appliance\n');
  await run('tar', ['-C', join(work, 'rootfs'), '-cf', join(work, 'layer.tar'), 'etc']);
  await run('gzip', ['-n', join(work, 'layer.tar')]);
  const raw = await readFile(join(work, 'layer.tar.gz'));
  const layout = join(work, 'layout');
  const layer = { desc: await writeBlob(layout, raw, 'application/vnd.oci.image.layer.v1.tar+gzip'), diffId: `sha256:${createHash('sha256').update(gunzipSync(raw)).digest('hex')}` };
  const manifest = await writeImage(layout, [layer]);
  manifestDigest = manifest.digest;
  await tagLayout(layout, manifest, 'edge/motd:1.0');
  const text = 'apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: ctr\ndiscoverImages: false\nimages:\n  - oci:./layout:edge/motd:1.0\n';
  await writeFile(join(work, 'airlock.yaml'), text);
  await buildBundle({ spec: parseSpec(text, join(work, 'airlock.yaml')), keys: site.trust.release, out: join(site.media, 'ctr.airlock'), sequence: 1 });
  expect((await importPath(app.url, app.token, 'ctr.airlock')).state).toBe('applied');
}, 120_000);

afterAll(async () => {
  await app?.close();
  await containerd?.stop();
});

describe('containerd', () => {
  it('ctr images pull --plain-http fetches and unpacks the image with its digest unchanged', async () => {
    const ref = `${app.url.replace('http://', '')}/edge/motd:1.0`;
    await containerd.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', ref]);
    const listed = await containerd.ctr(['images', 'ls']);
    const line = listed.split('\n').find((l) => l.startsWith(ref));
    expect(line).toContain(manifestDigest);
    const check = await containerd.ctr(['images', 'check']);
    expect(check).toMatch(/complete \(\d+\/\d+\)/);
  });
});
