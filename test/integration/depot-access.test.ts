/**
 * The depot behind HTTPS with a private CA and htpasswd auth (credentials from a Docker config.json), and delta
 * bundles, whose left-out blobs the depot layout records so that pull still rebuilds the exact file.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tagLayout, writeImage, writeLayer } from '../helpers/images.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';
import { type TestCa, type TlsRegistry, makeCa, startTlsRegistry } from '../helpers/tls-registry.js';

const user = { name: 'depot', password: 'hq-pushes-42' };
let tls: TlsRegistry;
let plain: TestRegistry;
let ca: TestCa;
let work: string;
let full: string;
let delta: string;
const k = (name: string) => join(work, name);
const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

async function dockerConfig(name: string, password: string): Promise<Record<string, string>> {
  await mkdir(k(name), { recursive: true });
  await writeFile(k(`${name}/config.json`), JSON.stringify({ auths: { [tls.host]: { auth: Buffer.from(`${user.name}:${password}`).toString('base64') } } }));
  return { DOCKER_CONFIG: k(name) };
}

async function create(name: string, images: string[], sequence: number, extra: string[] = []): Promise<string> {
  const spec = k(`${name}.yaml`);
  await writeFile(spec, `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: depot-access\n  channel: stable\ndiscoverImages: false\nimages:\n${images.map((i) => `  - oci:./layout:${i}\n`).join('')}`);
  const r = await cli(['bundle', 'create', '-f', spec, '--key', k('release.key'), '-o', k(`${name}.airlock`), '--sequence', String(sequence), ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return k(`${name}.airlock`);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-depot-access-'));
  ca = await makeCa();
  [tls, plain] = await Promise.all([startTlsRegistry(ca, { user }), startRegistry()]);
  expect((await cli(['keys', 'generate', '--out', k('root')])).code).toBe(0);
  expect((await cli(['keys', 'generate', '--out', k('release')])).code).toBe(0);
  expect((await cli(['trust', 'init', '--root-key', k('root.pub'), '--release-key', k('release.pub'), '--sign', k('root.key'), '--out', k('root.json')])).code).toBe(0);
  const layout = k('layout');
  const base = await writeLayer(layout, 100_000);
  await tagLayout(layout, await writeImage(layout, [base, await writeLayer(layout, 10_000)]), 'web:1');
  await tagLayout(layout, await writeImage(layout, [base, await writeLayer(layout, 10_000)]), 'web:2');
  full = await create('full', ['web:1'], 1);
  delta = await create('delta', ['web:2'], 2, ['--base', full]);
}, 60_000);

afterAll(async () => {
  await Promise.all([tls?.stop(), plain?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
  if (ca) await rm(ca.dir, { recursive: true, force: true });
});

describe('a depot behind HTTPS and a password', () => {
  it('pushes and pulls with --cacert and the Docker config.json credentials', async () => {
    const env = await dockerConfig('good', user.password);
    const push = await cli(['bundle', 'push', full, `oci://${tls.host}/fleet/site`, '--cacert', ca.caPem], { env });
    expect(push.code, push.stderr).toBe(0);
    const pull = await cli(['bundle', 'pull', `oci://${tls.host}/fleet/site:stable`, '-o', k('pulled.airlock'), '--cacert', ca.caPem, '--trust', k('root.json')], { env });
    expect(pull.code, pull.stderr).toBe(0);
    expect(await sha256(k('pulled.airlock'))).toBe(await sha256(full));
  });

  it('fails clearly with a wrong password or an untrusted certificate, writing nothing', async () => {
    const env = await dockerConfig('good', user.password);
    const bad = await cli(['bundle', 'pull', `oci://${tls.host}/fleet/site:stable`, '-o', k('denied.airlock'), '--cacert', ca.caPem], { env: await dockerConfig('bad', 'wrong') });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/REGISTRY_UNAUTHORIZED/);
    const other = await makeCa();
    try {
      const untrusted = await cli(['bundle', 'pull', `oci://${tls.host}/fleet/site:stable`, '-o', k('denied.airlock'), '--cacert', other.caPem], { env });
      expect(untrusted.code).toBe(1);
      expect(untrusted.stderr).toMatch(/certificate/i);
    } finally {
      await rm(other.dir, { recursive: true, force: true });
    }
    expect((await readdir(work)).filter((n) => n.includes('denied'))).toEqual([]);
    // --insecure skips the certificate check, as documented.
    const insecure = await cli(['bundle', 'pull', `oci://${tls.host}/fleet/site:stable`, '-o', k('insecure.airlock'), '--insecure'], { env });
    expect(insecure.code, insecure.stderr).toBe(0);
    expect(await sha256(k('insecure.airlock'))).toBe(await sha256(full));
  });
});

describe('delta bundles in the depot', () => {
  it('refuses a delta where its base was never pushed', async () => {
    const r = await cli(['bundle', 'push', delta, `oci://${plain.host}/fleet/empty`], { env: { DOCKER_CONFIG: k('none') } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/BASE_MISSING/);
    expect(r.stderr).toMatch(/push the full bundle of its base there first/);
  });

  it('pushes a delta after its base and pulls it back byte for byte', async () => {
    const env = { DOCKER_CONFIG: k('none') };
    expect((await cli(['bundle', 'push', full, `oci://${plain.host}/fleet/d`], { env })).code).toBe(0);
    const push = await cli(['bundle', 'push', delta, `oci://${plain.host}/fleet/d`], { env });
    expect(push.code, push.stderr).toBe(0);
    const pull = await cli(['bundle', 'pull', `oci://${plain.host}/fleet/d:stable`, '-o', k('delta-pulled.airlock'), '--trust', k('root.json')], { env });
    expect(pull.code, pull.stderr).toBe(0);
    expect(await sha256(k('delta-pulled.airlock'))).toBe(await sha256(delta));
    expect((await readFile(k('delta-pulled.airlock'))).length).toBeLessThan((await readFile(full)).length);
  });
});
