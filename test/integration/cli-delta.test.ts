/**
 * `bundle verify` of a delta, and `-` for standard input and output, through the real executable: a delta verifies
 * every byte it carries and lists what it expects from its base (exit 0); --base checks that a base bundle or a
 * signed site receipt holds it (exit 1 naming what it lacks); a bundle streams from `bundle create -o -` into
 * `bundle verify -` through a pipe, with no file in between.
 */
import { mkdir, mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSecretKey } from '../../keys/key-file.js';
import { type Receipt, signReceipt } from '../../keys/receipt.js';
import { BINARY, airlock } from '../helpers/cli.js';
import { exec } from '../helpers/exec.js';
import { tagLayout, writeImage, writeLayer } from '../helpers/images.js';

let dir: string;
const p = (name: string) => join(dir, name);
let shared: string;
let fresh: string;

const spec = (name: string, images: string[]) =>
  `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: ${name}\n  channel: edge\nimages:\n${images.map((i) => `  - oci:./layout:${i}\n`).join('')}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-cli-delta-'));
  await mkdir(p('next'));
  const base = await writeLayer(p('layout'), 30_000);
  const added = await writeLayer(p('layout'), 20_000);
  const other = await writeLayer(p('layout'), 10_000);
  shared = base.desc.digest;
  fresh = added.desc.digest;
  await tagLayout(p('layout'), await writeImage(p('layout'), [base]), 'app:1');
  await tagLayout(p('layout'), await writeImage(p('layout'), [base, added]), 'app:2');
  await tagLayout(p('layout'), await writeImage(p('layout'), [other]), 'other:1');
  await writeFile(p('v1.yaml'), spec('v1', ['app:1']));
  await writeFile(p('v2.yaml'), spec('v2', ['app:2']));
  await writeFile(p('other.yaml'), spec('other', ['other:1']));
  for (const args of [
    ['keys', 'generate', '--out', p('release')],
    ['keys', 'generate', '--out', p('site')],
    ['trust', 'init', '--root-key', p('release.pub'), '--release-key', p('release.pub'), '--sign', p('release.key'), '--out', p('root.json')],
    ['bundle', 'create', '-f', p('v1.yaml'), '--key', p('release.key'), '-o', p('v1.airlock'), '--sequence', '1'],
    ['bundle', 'create', '-f', p('other.yaml'), '--key', p('release.key'), '-o', p('other.airlock'), '--sequence', '1'],
    ['bundle', 'create', '-f', p('v2.yaml'), '--key', p('release.key'), '-o', p('v2.airlock'), '--sequence', '2', '--base', p('v1.airlock')],
  ]) {
    const res = await airlock(args);
    expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(0);
  }
});

/** A receipt of the site key holding `blobs`, as `airlock appliance receipt` writes it. */
async function receipt(name: string, blobs: string[]): Promise<string> {
  const r: Receipt = { type: 'airlock-receipt', created: new Date().toISOString(), appliance: '', channels: [], blobs, git: [] };
  const key = await readSecretKey(p('site.key'));
  await writeFile(p(name), signReceipt({ ...r, appliance: key.keyid }, key));
  return p(name);
}

describe('bundle verify of a delta', () => {
  it('verifies every byte present and reports the blobs expected from its base (exit 0)', async () => {
    const text = await airlock(['bundle', 'verify', p('v2.airlock'), '--trust', p('root.json')]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/delta of bundle sha256:[0-9a-f]{64}: 1 blob\(s\), [\d.]+ KiB, and 0 Git commit\(s\) are expected from the base/);
    expect(text.stdout).toContain('not checked: give --base');
    const json = await airlock(['bundle', 'verify', p('v2.airlock'), '--trust', p('root.json'), '--json']);
    const report = JSON.parse(json.stdout) as { apiVersion: string; verified: boolean; delta: { base: string; blobs: { digest: string }[]; checkedAgainst?: string } };
    expect(report).toMatchObject({ apiVersion: 'airlock.dev/v1', verified: true });
    expect(report.delta.blobs.map((b) => b.digest)).toEqual([shared]);
    expect(report.delta.checkedAgainst).toBeUndefined();
  });

  it('still fails on a flipped byte in what the delta carries', async () => {
    const bytes = Buffer.from(await import('node:fs/promises').then((fs) => fs.readFile(p('v2.airlock'))));
    const at = bytes.indexOf(Buffer.from(`blobs/sha256/${fresh.slice(7)}`)) + 512 + 100;
    bytes[at] = (bytes[at] ?? 0) ^ 1;
    await writeFile(p('flipped.airlock'), bytes);
    const res = await airlock(['bundle', 'verify', p('flipped.airlock'), '--trust', p('root.json'), '--json']);
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stdout)).toEqual({ apiVersion: 'airlock.dev/v1', error: { code: 'DIGEST_MISMATCH', message: expect.stringContaining(fresh) } });
  });

  it('with --base BUNDLE checks the base holds them (exit 0), and refuses another bundle as the base', async () => {
    const ok = await airlock(['bundle', 'verify', p('v2.airlock'), '--trust', p('root.json'), '--base', p('v1.airlock'), '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).delta.checkedAgainst).toContain('v1.airlock');
    const wrong = await airlock(['bundle', 'verify', p('v2.airlock'), '--trust', p('root.json'), '--base', p('other.airlock')]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/built against bundle sha256:.*\[BASE_MISMATCH\]$/m);
  });

  it('with --base RECEIPT --appliance-key checks the site holds them: exit 1 naming the missing blob', async () => {
    const holds = await airlock(['bundle', 'verify', p('v2.airlock'), '--trust', p('root.json'), '--base', await receipt('holds.json', [shared]), '--appliance-key', p('site.pub')]);
    expect(holds.code, holds.stderr).toBe(0);
    expect(holds.stdout).toMatch(/the base receipt .*holds\.json of appliance [0-9a-f]{12} .*holds all of them/);
    const lacks = await airlock(['bundle', 'verify', p('v2.airlock'), '--trust', p('root.json'), '--base', await receipt('lacks.json', [fresh]), '--appliance-key', p('site.pub'), '--json']);
    expect(lacks.code).toBe(1);
    expect(JSON.parse(lacks.stdout).error).toEqual({ code: 'BASE_MISSING', message: expect.stringContaining(`1 of the 1 blob(s) this delta leaves out: ${shared}`) });
    const unsigned = await airlock(['bundle', 'verify', p('v2.airlock'), '--trust', p('root.json'), '--base', p('holds.json')]);
    expect(unsigned).toMatchObject({ code: 2, stderr: expect.stringContaining('--appliance-key') });
  });

  it("verifies the README's next-release flow: a split delta built from a site receipt, with and without --base", async () => {
    const site = await receipt('site.json', [shared]);
    const created = await airlock(['bundle', 'create', '-f', p('v2.yaml'), '--key', p('release.key'), '-o', p('next/v2.airlock'), '--base', site, '--appliance-key', p('site.pub'), '--split-size', '16KiB']);
    expect(created.code, created.stderr).toBe(0);
    const plain = await airlock(['bundle', 'verify', p('next'), '--trust', p('root.json'), '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    const report = JSON.parse(plain.stdout) as { parts: string[]; delta: { baseSite: string; blobs: { digest: string }[] } };
    expect(report.parts.length).toBeGreaterThan(1);
    expect(report.delta.baseSite).toMatch(/^[0-9a-f]{64}$/);
    expect(report.delta.blobs.map((b) => b.digest)).toEqual([shared]);
    expect((await airlock(['bundle', 'verify', p('next'), '--trust', p('root.json'), '--base', site, '--appliance-key', p('site.pub')])).code).toBe(0);
    const lacks = await airlock(['bundle', 'verify', p('next'), '--trust', p('root.json'), '--base', await receipt('site-lacks.json', []), '--appliance-key', p('site.pub')]);
    expect(lacks.code).toBe(1);
    expect(lacks.stderr).toContain(`lacks 1 of the 1 blob(s) this delta leaves out: ${shared} [BASE_MISSING]`);
  });

  it('refuses --base for a full bundle', async () => {
    const res = await airlock(['bundle', 'verify', p('v1.airlock'), '--trust', p('root.json'), '--base', p('other.airlock')]);
    expect(res).toMatchObject({ code: 2, stderr: expect.stringContaining('is a full bundle, not a delta') });
  });
});

describe('- for standard input and output', () => {
  const sh = (script: string) => exec('bash', ['-o', 'pipefail', '-c', script], { cwd: dir, env: { AIRLOCK: BINARY } });

  it('bundle verify - streams a bundle from a pipe, a delta too', async () => {
    const full = await sh(`cat v1.airlock | "$AIRLOCK" bundle verify - --trust root.json`);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).toMatch(/^standard input: verified\n/);
    const delta = await sh(`cat v2.airlock | "$AIRLOCK" bundle verify - --trust root.json --base v1.airlock --json`);
    expect(delta.code, delta.stderr).toBe(0);
    expect(JSON.parse(delta.stdout).delta.checkedAgainst).toContain('v1.airlock');
    const cut = await sh(`head -c $(( $(stat -c %s v1.airlock) - 3000 )) v1.airlock | "$AIRLOCK" bundle verify - --trust root.json`);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/\[(BUNDLE_TRUNCATED|BUNDLE_CORRUPT)\]$/m);
  });

  it('bundle create -o - streams into bundle verify - with no file in between', async () => {
    const before = await readdir(dir);
    const res = await sh(`"$AIRLOCK" bundle create -f v1.yaml --key release.key -o - --sequence 9 | "$AIRLOCK" bundle verify - --trust root.json --json`);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ verified: true, sequence: 9, name: 'v1' });
    expect(res.stderr).toMatch(/^wrote standard output \(/m);
    expect(await readdir(dir)).toEqual(before);
    await expect(stat(p('-'))).rejects.toThrow();
    const json = await airlock(['bundle', 'create', '-f', p('v1.yaml'), '--key', p('release.key'), '-o', '-', '--json']);
    expect(json).toMatchObject({ code: 2, stderr: expect.stringContaining('give -o a file name for --json') });
  });

  it('bundle inspect - and receipt verify - read standard input', async () => {
    const inspected = await sh(`cat v2.airlock | "$AIRLOCK" bundle inspect - --json`);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(JSON.parse(inspected.stdout)).toMatchObject({ apiVersion: 'airlock.dev/v1', name: 'v2', images: [{ ref: 'app:2' }] });
    const shown = await sh(`cat holds.json | "$AIRLOCK" receipt verify - --appliance-key site.pub --json`);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ verified: true, blobs: [shared] });
  });
});
