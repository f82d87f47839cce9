/**
 * `npm pack` ships what a user needs and nothing else, and `npm install -g` of that tarball into a clean prefix
 * gives a working `airlock`: --version, keys generate, and an appliance that opens its SQLite state and serves its
 * web UI's assets.
 *
 * Offline where it can be: package tarballs come from the npm cache that `npm ci` filled (--prefer-offline; only
 * package metadata missing from the cache is asked of the registry, as `npm ci` itself does). better-sqlite3's
 * native addon goes through its real install script (prebuild-install), pointed by prebuild-install's documented
 * npm_config_better_sqlite3_local_prebuilds at a prebuild packed from this checkout's own compiled addon: the
 * path a user's install takes with a downloaded prebuild, without a 7-minute compile or a download from GitHub.
 * The pack itself runs with --ignore-scripts because the suite has just built dist/ (the prepack build is
 * checked by the last test).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BINARY } from '../helpers/cli.js';
import { exec, run } from '../helpers/exec.js';

const ROOT = dirname(dirname(BINARY));
let dir: string;
let tarball: string;
let files: string[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-pack-'));
  const packed = JSON.parse(await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT })) as { filename: string; files: { path: string }[] }[];
  tarball = join(dir, packed[0]?.filename ?? '');
  files = (packed[0]?.files ?? []).map((f) => f.path);
}, 120_000);

describe('the npm package', () => {
  it('holds the compiled code, the bin, README, LICENSE, the contract docs and the UI assets; no tests, sources or maps', () => {
    expect(tarball).toMatch(/airlock-dev-airlock-\d+\.\d+\.\d+\.tgz$/);
    for (const f of ['bin/airlock.js', 'dist/bin/main.js', 'dist/bundler/commands/bundle-create.js', 'dist/appliance/server.js', 'src/ui/static/app.js', 'README.md', 'LICENSE', 'package.json', 'docs/cli.md']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /(^|\/)test\/|\.test\.|\.ts$|\.map$|^bench\/|^dist\/bench\/|^docs\/adr\/|demo/.test(f))).toEqual([]);
  });

  it('installs with npm install -g into a clean prefix and gives a working airlock', async () => {
    const prebuilds = join(dir, 'prebuilds');
    await mkdir(prebuilds);
    const sqlite = join(ROOT, 'node_modules', 'better-sqlite3');
    const { version } = JSON.parse(await readFile(join(sqlite, 'package.json'), 'utf8')) as { version: string };
    await run('tar', ['czf', join(prebuilds, `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`), '-C', sqlite, 'build/Release/better_sqlite3.node']);
    const prefix = join(dir, 'prefix');
    const env = { npm_config_better_sqlite3_local_prebuilds: prebuilds, npm_config_update_notifier: 'false' };
    const installed = await exec('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { env, cwd: dir });
    expect(installed.code, installed.stderr).toBe(0);
    const bin = join(prefix, 'bin', 'airlock');

    const version2 = await exec(bin, ['--version'], { cwd: dir });
    expect(version2.stdout).toMatch(/^airlock \d+\.\d+\.\d+ \(node v[\d.]+ --initial-old-space-size=128\)\nhelm v4\.[\d.]+\S*\nkustomize v[\d.]+ \(kubectl kustomize\)\n$/);
    const json = await exec(bin, ['version', '--json'], { cwd: dir });
    expect(JSON.parse(json.stdout)).toMatchObject({ apiVersion: 'airlock.dev/v1', version: expect.stringMatching(/^\d+\.\d+\.\d+$/) });

    const key = await exec(bin, ['keys', 'generate', '--out', join(dir, 'k'), '--json'], { cwd: dir });
    expect(key.code, key.stderr).toBe(0);
    expect(JSON.parse(key.stdout).keyid).toMatch(/^[0-9a-f]{64}$/);
    expect((await stat(join(dir, 'k.key'))).mode & 0o777).toBe(0o600);
    await run(bin, ['trust', 'init', '--root-key', join(dir, 'k.pub'), '--release-key', join(dir, 'k.pub'), '--sign', join(dir, 'k.key'), '--out', join(dir, 'root.json')]);

    // The appliance from the installed package: SQLite state (the native addon) and the UI's static files.
    const child = spawn(bin, ['appliance', 'serve', '--data', join(dir, 'data'), '--trust', join(dir, 'root.json'), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
          if (m?.[1]) resolve(m[1]);
        });
        child.on('exit', (code) => reject(new Error(`appliance exited ${code}: ${out}`)));
      });
      const css = await fetch(`${url}/ui/static/app.css`);
      expect(css.status).toBe(200);
      expect(await css.text()).toBe(await readFile(join(ROOT, 'src', 'ui', 'static', 'app.css'), 'utf8'));
      const status = await fetch(`${url}/api/v1/status`, { headers: { authorization: `Bearer ${(await readFile(join(dir, 'data', 'admin-token'), 'utf8')).trim()}` } });
      expect(status.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('close', resolve));
    }
  }, 300_000);

  it('is publishable: a scoped name, no "private", a prepack build, the Apache-2.0 licence it names', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.name).toBe('@airlock-dev/airlock');
    expect(pkg.private).toBeUndefined();
    expect(pkg.bin).toEqual({ airlock: 'bin/airlock.js' });
    expect((pkg.scripts as Record<string, string>).prepack).toContain('tsc -p tsconfig.json');
    expect(pkg.license).toBe('Apache-2.0');
    expect(await readFile(join(ROOT, 'LICENSE'), 'utf8')).toContain('Apache License\n                           Version 2.0, January 2004');
  });
});
