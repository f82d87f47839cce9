/**
 * Split parts: `--split-size` writes NAME.000… and a signed NAME.parts.json; joined they are the very bytes of the
 * unsplit bundle. `bundle verify`, the appliance (from --media) and `appliance import` take the directory or the
 * index; a missing, truncated, swapped or foreign part, or an altered index, fails naming the file.
 */
import { copyFile, mkdir, readFile, readdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../bundler/build.js';
import { parseSpec } from '../../bundler/spec.js';
import { type Site, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { cli } from '../helpers/cli.js';

let site: Site;
let app: Awaited<ReturnType<typeof start>>;
const now = new Date('2026-11-01T00:00:00Z');
const PART = 48 * 1024;

beforeAll(async () => {
  site = await makeSite({ layerSize: 60_000 });
  app = await start(site);
});

afterAll(async () => {
  await app?.close();
});

async function freshCopy(dir: string, name: string): Promise<string> {
  const copy = join(site.media, name);
  await rm(copy, { recursive: true, force: true });
  await mkdir(copy);
  for (const f of await readdir(dir)) await copyFile(join(dir, f), join(copy, f));
  return copy;
}

async function verify(path: string) {
  return cli(['bundle', 'verify', path, '--trust', site.trustPath]);
}

describe('free space', () => {
  it('bundle create refuses up front, saying how much is missing, and writes nothing', async () => {
    await site.bundle({ sequence: 4, name: 'probe' }); // writes the spec file
    const specPath = join(site.dir, 'airlock.yaml');
    const spec = parseSpec(await readFile(specPath, 'utf8'), specPath);
    const out = join(site.dir, 'tight', 'b.airlock');
    await mkdir(join(site.dir, 'tight'));
    for (const splitSize of [undefined, PART]) {
      const err = await buildBundle({ spec, keys: site.trust.release, out, sequence: 4, freeSpace: async () => 10_000, ...(splitSize ? { splitSize } : {}) }).catch((e: unknown) => e as Error);
      expect(err).toMatchObject({ code: 'INSUFFICIENT_STORAGE' });
      expect(String(err)).toMatch(/the bundle needs [\d.]+ \w+, 9\.8 KiB is free \([\d.]+ \w+ missing\)/);
      expect(await readdir(join(site.dir, 'tight'))).toEqual([]);
    }
  });
});

describe('split parts', () => {
  let dir: string;
  let names: string[];

  beforeAll(async () => {
    dir = await site.bundle({ sequence: 5, name: 'split', now, splitSize: PART });
    await site.bundle({ sequence: 5, name: 'whole', now });
    names = (await readdir(dir)).sort();
  });

  it('writes numbered parts and a signed index that join into the bytes of the unsplit bundle', async () => {
    expect(names[0]).toBe('split.airlock.000');
    expect(names.at(-1)).toBe('split.airlock.parts.json');
    const parts = names.filter((n) => /\.\d{3}$/.test(n));
    expect(parts.length).toBeGreaterThan(2);
    const bytes = await Promise.all(parts.map((n) => readFile(join(dir, n))));
    for (const b of bytes.slice(0, -1)) expect(b.length).toBe(PART);
    expect(Buffer.concat(bytes).equals(await readFile(join(site.media, 'whole.airlock')))).toBe(true);
    expect(names.filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('verifies from the directory and from the index', async () => {
    const fromDir = await verify(dir);
    expect(fromDir.stderr).toBe('');
    expect(fromDir.code).toBe(0);
    expect(fromDir.stdout).toMatch(/verified \(\d+ parts, each matching its signed index\)/);
    expect((await verify(join(dir, 'split.airlock.parts.json'))).code).toBe(0);
  });

  it('names a missing part, and every missing one', async () => {
    const copy = await freshCopy(dir, 'missing');
    await rm(join(copy, 'split.airlock.001'));
    await rm(join(copy, 'split.airlock.002'));
    const res = await verify(copy);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('split.airlock.001 is missing');
    expect(res.stderr).toContain('split.airlock.002 is missing');
    expect(res.stderr).toContain('[PART_MISSING]');
  });

  it('names a truncated part', async () => {
    const copy = await freshCopy(dir, 'truncated');
    await truncate(join(copy, 'split.airlock.001'), 1000);
    const res = await verify(copy);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/split\.airlock\.001 has 1000 bytes, the index says \d+ \(truncated\)/);
  });

  it('names two swapped parts', async () => {
    const copy = await freshCopy(dir, 'swapped');
    await rename(join(copy, 'split.airlock.000'), join(copy, 'tmp'));
    await rename(join(copy, 'split.airlock.001'), join(copy, 'split.airlock.000'));
    await rename(join(copy, 'tmp'), join(copy, 'split.airlock.001'));
    const res = await verify(copy);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('split.airlock.000, split.airlock.001 do not match the parts index');
    expect(res.stderr).toContain('[PART_INVALID]');
  });

  it('names a part from another bundle', async () => {
    const other = await site.bundle({ sequence: 6, name: 'other', now, splitSize: PART, images: ['team/app:1.0', 'team/worker:2.0'] });
    const copy = await freshCopy(dir, 'foreign');
    await copyFile(join(other, 'other.airlock.002'), join(copy, 'split.airlock.002'));
    const res = await verify(copy);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/split\.airlock\.002 (does not match|has \d+ bytes)/);
    expect(res.stderr).not.toContain('split.airlock.001');
  });

  it('refuses an index whose signature does not hold, naming it', async () => {
    const copy = await freshCopy(dir, 'forged-index');
    const indexPath = join(copy, 'split.airlock.parts.json');
    const envelope = JSON.parse(await readFile(indexPath, 'utf8')) as { payload: string };
    const index = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as { parts: { sha256: string }[] };
    (index.parts[0] as { sha256: string }).sha256 = 'f'.repeat(64);
    await writeFile(indexPath, JSON.stringify({ ...envelope, payload: Buffer.from(JSON.stringify(index)).toString('base64') }));
    const res = await verify(copy);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(indexPath);
    expect(res.stderr).toMatch(/THRESHOLD_NOT_MET|SIGNATURE_INVALID/);
  });

  it('imports from --media (directory or index) and refuses bad parts, naming them, with the bundle in force kept', async () => {
    const applied = await importPath(app.url, app.token, 'split');
    expect(applied).toMatchObject({ state: 'applied', sequence: 5 });
    expect(applied.progress.totalBytes).toBeGreaterThan(3 * PART);

    const next = await site.bundle({ sequence: 7, name: 'next', splitSize: PART });
    const bad = await freshCopy(next, 'next-bad');
    const part = join(bad, 'next.airlock.001');
    const bytes = await readFile(part);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
    await writeFile(part, bytes);
    const failed = await importPath(app.url, app.token, 'next-bad/next.airlock.parts.json');
    expect(failed).toMatchObject({ state: 'failed', error: { code: 'PART_INVALID' } });
    expect(failed.error?.message).toContain('next.airlock.001');
    expect(app.ctx.state.status()[0]?.sequence).toBe(5);

    const missing = await freshCopy(next, 'next-missing');
    await rm(join(missing, 'next.airlock.000'));
    const refused = await fetch(`${app.url}/api/v1/imports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ path: 'next-missing' }),
    });
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('next.airlock.000 is missing');

    expect(await importPath(app.url, app.token, 'next/next.airlock.parts.json')).toMatchObject({ state: 'applied', sequence: 7 });
  });

  it('uploads joined parts with `appliance import`, stopping at a bad part and naming it', async () => {
    const later = await site.bundle({ sequence: 8, name: 'later', splitSize: PART });
    const bad = await freshCopy(later, 'later-bad');
    const part = join(bad, 'later.airlock.002');
    const bytes = await readFile(part);
    bytes[5] = (bytes[5] ?? 0) ^ 0xff;
    await writeFile(part, bytes);
    const refused = await cli(['appliance', 'import', bad, '--server', app.url, '--token-file', app.adminTokenPath, '--wait']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('later.airlock.002');
    await app.imports.idle();
    expect(app.ctx.state.status()[0]?.sequence).toBe(7);

    const ok = await cli(['appliance', 'import', later, '--server', app.url, '--token-file', app.adminTokenPath, '--wait']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(app.ctx.state.status()[0]?.sequence).toBe(8);
  });
});
