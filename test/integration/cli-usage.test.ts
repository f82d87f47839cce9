/**
 * The CLI's shape, through the real executable: help at every level, `version`, shell completion that bash, zsh
 * and fish load and answer, usage errors in the project's own words with "did you mean", bounds on durations and
 * sizes, a JSON error object on stdout with --json, and the appliance's own error codes passed through.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINARY, airlock } from '../helpers/cli.js';
import { exec } from '../helpers/exec.js';
import { tagLayout, writeImage, writeLayer } from '../helpers/images.js';

let dir: string;
const p = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-cli-usage-'));
    await exec(BINARY, ['keys', 'generate', '--out', p('k')]);
    await exec(BINARY, ['trust', 'init', '--root-key', p('k.pub'), '--release-key', p('k.pub'), '--sign', p('k.key'), '--out', p('root.json')]);
});

describe('help at every level', () => {
  it('airlock GROUP --help, airlock help GROUP and airlock GROUP help list the group with exit 0', async () => {
    const group = await airlock(['bundle', '--help']);
    expect(group.code).toBe(0);
    expect(group.stdout).toMatch(/airlock bundle create +build a signed bundle/);
    expect(group.stdout).toContain('airlock bundle verify');
    expect(group.stdout).not.toContain('airlock keys generate');
    expect((await airlock(['help', 'bundle'])).stdout).toBe(group.stdout);
    expect((await airlock(['bundle', 'help'])).stdout).toBe(group.stdout);
    expect((await airlock(['bundle', '-h'])).stdout).toBe(group.stdout);
    const bare = await airlock(['bundle']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('airlock bundle: a command is missing');
    expect(bare.stderr).toContain('airlock bundle inspect');
  });

  it("airlock help bundle create prints that command's help, the same as --help", async () => {
    const help = await airlock(['help', 'bundle', 'create']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: airlock bundle create /);
    expect(help.stdout).toContain('--split-size SIZE');
    expect(help.stdout).not.toContain('Commands:');
    expect((await airlock(['bundle', 'create', '--help'])).stdout).toBe(help.stdout);
    expect((await airlock(['bundle', 'help', 'create'])).stdout).toBe(help.stdout);
    expect((await airlock(['help', 'appliance', 'serve'])).stdout).toMatch(/^Usage: airlock appliance serve /);
    expect((await airlock(['help', 'version'])).stdout).toMatch(/^Usage: airlock version/);
    const top = await airlock(['help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('airlock completion');
  });

  it('answers an unknown command or help topic with exit 2 and what was meant', async () => {
    expect(await airlock(['bundel', 'create'])).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown command "bundel"; did you mean "bundle"?') });
    expect(await airlock(['bundle', 'creat'])).toMatchObject({ code: 2, stderr: expect.stringContaining('did you mean "bundle create"?') });
    expect(await airlock(['help', 'bundle', 'verfy'])).toMatchObject({ code: 2, stderr: expect.stringContaining('did you mean "bundle verify"?') });
  });
});

describe('version', () => {
  it('prints the version as text and as JSON, the same as --version and package.json', async () => {
    const { version } = JSON.parse(await readFile(join(BINARY, '..', '..', 'package.json'), 'utf8')) as { version: string };
    const text = await airlock(['version']);
    expect(text.stdout).toBe((await airlock(['--version'])).stdout);
    expect(text.stdout).toContain(`airlock ${version} (node ${process.version}`);
    const json = JSON.parse((await airlock(['version', '--json'])).stdout) as Record<string, unknown>;
    expect(json).toEqual({ apiVersion: 'airlock.dev/v1', version, node: process.version, nodeOptions: ['--initial-old-space-size=128'], platform: process.platform, arch: process.arch, tools: { helm: expect.stringMatching(/^v4\./), kustomize: expect.stringMatching(/^v5\..* \(kubectl kustomize\)$/) } });
    expect(text.stdout).toMatch(/\nhelm v4\.\d+\.\d+\nkustomize v5\.[\d.]+ \(kubectl kustomize\)\n$/);
  });
});

describe('shell completion', () => {
  const script = async (shell: string) => {
    const res = await airlock(['completion', shell]);
    expect(res.code, res.stderr).toBe(0);
    await writeFile(p(`airlock.${shell}`), res.stdout);
    return p(`airlock.${shell}`);
  };

  it('bash completes groups, commands and options', async () => {
    const file = await script('bash');
    const complete = async (line: string) =>
      (await exec('bash', ['-c', `source "$1"; read -ra COMP_WORDS <<< "$2"; [[ "$2" == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _airlock; echo "\${COMPREPLY[*]}"`, 'bash', file, line])).stdout.trim();
    expect(await complete('airlock bu')).toBe('bundle');
    expect(await complete('airlock bundle ')).toBe('create verify inspect push pull help');
    expect(await complete('airlock bundle create --sp')).toBe('--split-size');
    expect(await complete('airlock appliance import --w')).toBe('--wait');
    expect(await complete('airlock help bundle v')).toBe('verify');
    expect(await complete('airlock completion ')).toBe('bash zsh fish');
  });

  it('fish completes with descriptions', async () => {
    const file = await script('fish');
    const res = await exec('fish', ['-c', `source ${file}; complete -C "airlock bundle cr"; complete -C "airlock bundle verify --ba"`]);
    expect(res.stdout).toBe('create\tbuild a signed bundle from a spec file\n--base\n');
  });

  it('zsh loads the script and registers the completion', async () => {
    const file = await script('zsh');
    expect((await exec('zsh', ['-n', file])).code).toBe(0);
    const res = await exec('zsh', ['-fc', `source ${file}; print -r -- \${_comps[airlock]}`]);
    expect(res.stdout.trim()).toBe('_bash_complete -o default -F _airlock');
  });

  it('refuses an unknown shell', async () => {
    expect(await airlock(['completion', 'tcsh'])).toMatchObject({ code: 2, stderr: expect.stringContaining('no completion for shell "tcsh": give one of bash, zsh, fish') });
  });
});

describe('usage errors in our own words', () => {
  it('never shows parseArgs wording, and says what to write', async () => {
    const negative = await airlock(['trust', 'init', '--root-key', p('k.pub'), '--release-key', p('k.pub'), '--sign', p('k.key'), '--out', p('x.json'), '--expires', '-XYZ']);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toContain('--expires "-XYZ" is not a duration: give a whole number and a unit (s, m, h, d, w or y) from 1m to 100y, like 30d');
    expect(negative.stderr).not.toMatch(/ambiguous|--expires=-XYZ|ERR_PARSE_ARGS/);
    expect(await airlock(['keys', 'generate', '--out', p('k2'), '--nmae', 'x'])).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown option --nmae; did you mean --name?') });
    expect(await airlock(['bundle', 'verify', 'x', '--trust'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--trust needs a value') });
    expect(await airlock(['appliance', 'import', 'x', '--wait=yes'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--wait takes no value') });
    expect(await airlock(['bundle', 'verify'])).toMatchObject({ code: 2, stderr: expect.stringContaining('FILE|PARTS_DIR|NAME.parts.json|- is missing') });
    expect(await airlock(['bundle', 'inspect', 'a', 'b'])).toMatchObject({ code: 2, stderr: expect.stringContaining('unexpected argument "b"') });
  });

  it('bounds durations and sizes, naming the allowed range', async () => {
    for (const expires of ['0d', '36500000d']) {
      const res = await airlock(['trust', 'init', '--root-key', p('k.pub'), '--release-key', p('k.pub'), '--sign', p('k.key'), '--out', p('x.json'), '--expires', expires]);
      expect(res).toMatchObject({ code: 2, stderr: expect.stringContaining(`--expires "${expires}" is out of range: give a duration from 1m to 100y`) });
    }
    await writeFile(p('s.yaml'), 'apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: s\nexpires: 0d\nimages: []\n');
    for (const [flag, value, range] of [['--expires', '0d', 'from 1m to 100y'], ['--split-size', '512', 'from 1KiB to 16TiB'], ['--split-size', '20TiB', 'from 1KiB to 16TiB']]) {
      const res = await airlock(['bundle', 'create', '-f', p('s.yaml'), '--key', p('k.key'), '-o', p('s.airlock'), flag ?? '', value ?? '']);
      expect(res).toMatchObject({ code: 2, stderr: expect.stringContaining(`${flag} "${value}" is out of range: give a `) });
      expect(res.stderr).toContain(range);
    }
    const spec = await airlock(['bundle', 'create', '-f', p('s.yaml'), '--key', p('k.key'), '-o', p('s.airlock')]);
    expect(spec).toMatchObject({ code: 1, stderr: expect.stringContaining('s.yaml:5: expires "0d" is out of range') });
    expect(await airlock(['trust', 'init', '--root-key', p('k.pub'), '--release-key', p('k.pub'), '--sign', p('k.key'), '--out', p('x.json'), '--release-threshold', '2'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--release-threshold 2 is out of range: give a whole number from 1 to 1'),
    });
  });

  it('prints a JSON error object on stdout with --json, for usage errors and failed work alike', async () => {
    const usage = await airlock(['bundle', 'verify', 'x', '--trust', p('root.json'), '--bogus', '--json']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout)).toEqual({ apiVersion: 'airlock.dev/v1', error: { code: 'USAGE', message: 'unknown option --bogus' } });
    const failed = await airlock(['bundle', 'verify', p('missing.airlock'), '--trust', p('root.json'), '--json']);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toEqual({ apiVersion: 'airlock.dev/v1', error: { code: 'NOT_FOUND', message: expect.stringContaining('missing.airlock') } });
    expect(failed.stderr).toMatch(/^airlock bundle verify: cannot read .*missing\.airlock: ENOENT \[NOT_FOUND\]\n$/);
  });
});

describe('appliance client commands pass the server error code through', () => {
  let child: ReturnType<typeof spawn> | undefined;
  let url = '';

  beforeAll(async () => {
    child = spawn(BINARY, ['appliance', 'serve', '--data', p('data'), '--trust', p('root.json'), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child?.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      child?.on('exit', (code) => reject(new Error(`appliance exited ${code}: ${out}`)));
    });
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child?.once('close', resolve));
    }
  });

  it('a wrong token: UNAUTHORIZED, not IO_ERROR', async () => {
    await writeFile(p('wrong-token'), 'not-a-token\n');
    const res = await airlock(['appliance', 'receipt', '--server', url, '--token-file', p('wrong-token'), '--json']);
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stdout).error.code).toBe('UNAUTHORIZED');
    expect(res.stderr).toMatch(/\[UNAUTHORIZED\]$/m);
  });

  it('appliance import - uploads a bundle from a pipe', async () => {
    await tagLayout(p('layout2'), await writeImage(p('layout2'), [await writeLayer(p('layout2'), 20_000)]), 'piped:1');
    await writeFile(p('piped.yaml'), 'apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: piped\n  channel: pipe\nimages:\n  - oci:./layout2:piped:1\n');
    const res = await exec('bash', ['-o', 'pipefail', '-c', '"$A" bundle create -f piped.yaml --key k.key -o - | "$A" appliance import - --server "$URL" --token-file data/admin-token --wait --json'], {
      cwd: dir,
      env: { A: BINARY, URL: url },
    });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ apiVersion: 'airlock.dev/v1', state: 'applied', name: 'piped', channel: 'pipe' });
  });

  it('an import that fails: the failure code of the import itself', async () => {
    await tagLayout(p('layout'), await writeImage(p('layout'), [await writeLayer(p('layout'), 20_000)]), 'app:1');
    await writeFile(p('a.yaml'), 'apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: a\nimages:\n  - oci:./layout:app:1\n');
    expect((await airlock(['bundle', 'create', '-f', p('a.yaml'), '--key', p('k.key'), '-o', p('a.airlock')])).code).toBe(0);
    const bytes = await readFile(p('a.airlock'));
    bytes[bytes.length - 2048] = (bytes[bytes.length - 2048] ?? 0) ^ 1;
    await writeFile(p('flipped.airlock'), bytes);
    const res = await airlock(['appliance', 'import', p('flipped.airlock'), '--server', url, '--token-file', p('data/admin-token'), '--wait', '--json']);
    expect(res.code).toBe(1);
    const doc = JSON.parse(res.stdout) as { apiVersion: string; error: { code: string; message: string } };
    expect(doc.apiVersion).toBe('airlock.dev/v1');
    expect(['DIGEST_MISMATCH', 'BUNDLE_CORRUPT']).toContain(doc.error.code);
    // The upload is answered only once every blob's verdict is in: a bad byte is refused with its import's id.
    expect(doc.error.message).toMatch(/^the appliance refused the import imp-\S+ \(4\d\d\): /);
  });
});
