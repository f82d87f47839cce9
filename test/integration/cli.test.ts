/** The `airlock` binary as scripts in the field call it: exit codes, one-line errors, --json, --help. */
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { airlock } from '../helpers/cli.js';
import { tagLayout, writeImage, writeLayer } from '../helpers/images.js';

let dir: string;
const p = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-cli-'));
  await tagLayout(p('layout'), await writeImage(p('layout'), [await writeLayer(p('layout'), 20_000)]), 'app:1');
  await writeFile(p('airlock.yaml'), 'apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: cli\n  channel: beta\nimages:\n  - oci:./layout:app:1\n');
});

describe('airlock CLI', () => {
  it('prints help with exit 0, and usage errors with exit 2', async () => {
    const help = await airlock(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('airlock bundle create');
    expect((await airlock([])).code).toBe(2);
    const unknown = await airlock(['frobnicate']);
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown command "frobnicate"') });
    const badFlag = await airlock(['bundle', 'verify', 'x', '--trust', 'y', '--bogus']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain('Run `airlock bundle verify --help` for usage.');
    expect((await airlock(['bundle', 'verify', '--trust', 'y'])).code).toBe(2);
    const sub = await airlock(['bundle', 'create', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('--sequence N');
  });

  it('runs as an executable whose shebang starts Node with the heap setting of ADR 008, and reports it', async () => {
    const version = await airlock(['--version']);
    expect(version.code).toBe(0);
    // then the helm and kustomize found (the tests' PATH has helm v4 and kubectl's kustomize)
    expect(version.stdout).toMatch(/^airlock \d+\.\d+\.\d+ \(node v\d+\.\d+\.\d+ --initial-old-space-size=128\)\nhelm v4\.[\d.]+\S*\nkustomize v[\d.]+ \(kubectl kustomize\)\n$/);
  });

  it('runs keys generate, trust init, bundle create, verify and inspect end to end', async () => {
    const key = await airlock(['keys', 'generate', '--out', p('release'), '--name', 'release team']);
    expect(key.code).toBe(0);
    expect(key.stdout.trim()).toMatch(/^[a-f0-9]{64}$/);
    expect((await stat(p('release.key'))).mode & 0o777).toBe(0o600);
    expect((await airlock(['keys', 'generate', '--out', p('release')])).code).toBe(1); // never overwrites
    expect((await airlock(['keys', 'generate', '--out', p('root'), '--json'])).code).toBe(0);

    const noRelease = await airlock(['trust', 'init', '--root-key', p('root.pub'), '--sign', p('root.key'), '--out', p('root.json')]);
    expect(noRelease).toMatchObject({ code: 2, stderr: expect.stringContaining('--release-key is required') });
    const trust = await airlock(['trust', 'init', '--root-key', p('root.pub'), '--release-key', p('release.pub'), '--sign', p('root.key'), '--expires', '30d', '--out', p('root.json'), '--json']);
    expect(trust.code).toBe(0);
    expect(JSON.parse(trust.stdout)).toMatchObject({ version: 1, roles: { release: { threshold: 1 } } });

    const created = await airlock(['bundle', 'create', '-f', p('airlock.yaml'), '--key', p('release.key'), '-o', p('cli.airlock'), '--sequence', '42', '--expires', '7d', '--json']);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout).statement).toMatchObject({ name: 'cli', channel: 'beta', sequence: 42 });

    const verified = await airlock(['bundle', 'verify', p('cli.airlock'), '--trust', p('root.json')]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('verified');
    expect(verified.stdout).toContain('sequence:  42');
    expect(verified.stdout).toMatch(/signed by: [a-f0-9]{64} \(release team\)/);

    const inspected = await airlock(['bundle', 'inspect', p('cli.airlock'), '--json']);
    expect(inspected.code).toBe(0);
    const report = JSON.parse(inspected.stdout) as { images: { ref: string }[]; channel: string; expires: string };
    expect(report.images.map((i) => i.ref)).toEqual(['app:1']);
    expect(Date.parse(report.expires) - Date.now()).toBeGreaterThan(6 * 86400_000);
  });

  it('writes split parts and verifies them as a separate process (the part hasher thread ends with the work)', async () => {
    await mkdir(p('parts'));
    const created = await airlock(['bundle', 'create', '-f', p('airlock.yaml'), '--key', p('release.key'), '-o', p('parts/cli.airlock'), '--split-size', '8KiB']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/split into \d+ part\(s\): cli\.airlock\.000/);
    const verified = await airlock(['bundle', 'verify', p('parts'), '--trust', p('root.json')]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/verified \(\d+ parts/);
  });

  it('exits 1 with a one-line reason when verification fails, 0 never', async () => {
    const bytes = await readFile(p('cli.airlock'));
    bytes[bytes.length - 2048] = (bytes[bytes.length - 2048] ?? 0) ^ 1;
    await writeFile(p('flipped.airlock'), bytes);
    const res = await airlock(['bundle', 'verify', p('flipped.airlock'), '--trust', p('root.json')]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/^airlock bundle verify: .+\[(DIGEST_MISMATCH|BUNDLE_CORRUPT)\]$/m);
    const debug = await airlock(['bundle', 'verify', p('flipped.airlock'), '--trust', p('root.json'), '--debug']);
    expect(debug.stderr).toContain('    at ');
    expect((await airlock(['bundle', 'verify', p('missing.airlock'), '--trust', p('root.json')])).stderr).toContain('cannot read');
  });

  it('reports spec errors with file and line and writes nothing', async () => {
    await writeFile(p('bad.yaml'), 'apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: x\nimagez: []\n');
    const res = await airlock(['bundle', 'create', '-f', p('bad.yaml'), '--key', p('release.key'), '-o', p('bad.airlock')]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${p('bad.yaml')}:5: unknown field "imagez"`);
    await expect(stat(p('bad.airlock'))).rejects.toThrow();
  });

  it('answers a bad --split-size or a lone --appliance-key with a usage error', async () => {
    const size = await airlock(['bundle', 'create', '-f', p('airlock.yaml'), '--key', p('release.key'), '-o', p('x.airlock'), '--split-size', '12 parsecs']);
    expect(size).toMatchObject({ code: 2, stderr: expect.stringContaining('--split-size "12 parsecs" is not a size') });
    const key = await airlock(['bundle', 'create', '-f', p('airlock.yaml'), '--key', p('release.key'), '-o', p('x.airlock'), '--appliance-key', p('release.pub')]);
    expect(key).toMatchObject({ code: 2, stderr: expect.stringContaining('there is no --base') });
  });
});
