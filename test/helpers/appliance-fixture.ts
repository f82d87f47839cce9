/**
 * A site for appliance tests: a trust root, images in an OCI layout (two of them sharing a layer, one
 * multi-arch), a Git repository with manifests, and a function that builds signed bundles of them at any
 * sequence. The appliance runs in this process (`start`) or as a real child process (`spawnAppliance`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle } from '../../bundler/build.js';
import type { DeltaBase } from '../../bundler/base.js';
import { parseSpec } from '../../bundler/spec.js';
import { startAppliance, type ApplianceOptions, type RunningAppliance } from '../../appliance/server.js';
import type { Logger } from '../../appliance/context.js';
import type { SecretKey } from '../../keys/key-file.js';
import { BINARY } from './cli.js';
import { gitCommit, gitInit } from './git-repo.js';
import { tagLayout, writeImage, writeIndex, writeLayer } from './images.js';
import { freePort } from './registry.js';
import { type TestTrust, makeTrust } from './trust.js';

export interface Site {
  dir: string;
  trust: TestTrust;
  trustPath: string;
  media: string;
  repo: string;
  /** Builds a bundle of the layout images and the Git repository into media/NAME.airlock. */
  bundle(opts: BundleOptions): Promise<string>;
  /** Where the site's images are (an OCI layout): tests add images to it. */
  layout: string;
  commit(files: Record<string, string>, message: string): Promise<string>;
}

export interface BundleOptions {
  sequence: number;
  name?: string;
  keys?: SecretKey[];
  expires?: string;
  now?: Date;
  images?: string[];
  channel?: string;
  /** Build a delta against this base. */
  base?: DeltaBase;
  /** Write split parts of this size into media/NAME/ instead of one file; returns the parts directory. */
  splitSize?: number;
}

export const quietLog: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export async function makeSite({ layerSize = 30_000 } = {}): Promise<Site> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-site-'));
  const trust = makeTrust();
  const trustPath = join(dir, 'root.json');
  await writeFile(trustPath, trust.text);
  const layout = join(dir, 'layout');
  const base = await writeLayer(layout, layerSize);
  const amd = await writeImage(layout, [base, await writeLayer(layout, layerSize / 2)], { os: 'linux', architecture: 'amd64' });
  const arm = await writeImage(layout, [base, await writeLayer(layout, layerSize / 2)], { os: 'linux', architecture: 'arm64' });
  await tagLayout(layout, await writeIndex(layout, [amd, arm]), 'team/app:1.0');
  await tagLayout(layout, await writeImage(layout, [base, await writeLayer(layout, layerSize / 3)]), 'team/worker:1.0');
  await tagLayout(layout, await writeImage(layout, [await writeLayer(layout, layerSize / 3)]), 'team/worker:2.0');
  const media = join(dir, 'media');
  await mkdir(media);
  const repo = join(dir, 'platform');
  await gitInit(repo);
  await gitCommit(repo, { 'clusters/store/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n' }, 'first');
  return {
    dir,
    trust,
    trustPath,
    media,
    repo,
    layout,
    commit: (files, message) => gitCommit(repo, files, message),
    async bundle({ sequence, name = `seq-${sequence}`, keys = trust.release, expires, now, images = ['team/app:1.0', 'team/worker:1.0'], channel = 'stable', base, splitSize }) {
      const text = `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: store\n  channel: ${channel}\ndiscoverImages: false\nimages:\n${images.map((i) => `  - oci:./layout:${i}\n`).join('')}git:\n  - name: platform\n    url: ./platform\n    ref: main\n    manifests: clusters/store\n`;
      const specPath = join(dir, 'airlock.yaml');
      await writeFile(specPath, text);
      const partsDir = join(media, name);
      if (splitSize) await mkdir(partsDir, { recursive: true });
      const out = splitSize ? join(partsDir, `${name}.airlock`) : join(media, `${name}.airlock`);
      await buildBundle({ spec: parseSpec(text, specPath), keys, out, sequence, ...(expires ? { expires } : {}), ...(now ? { now } : {}), ...(base ? { base } : {}), ...(splitSize ? { splitSize } : {}) });
      return splitSize ? partsDir : out;
    },
  };
}

export async function start(site: Site, opts: Partial<ApplianceOptions> = {}): Promise<RunningAppliance & { token: string }> {
  const running = await startAppliance({ dataDir: join(site.dir, `data-${Math.random().toString(36).slice(2, 8)}`), trust: site.trust.trust, port: 0, media: site.media, log: quietLog, ...opts });
  return { ...running, token: (await readFile(running.adminTokenPath, 'utf8')).trim() };
}

export interface ChildAppliance {
  url: string;
  token: () => Promise<string>;
  child: ChildProcess;
  exited: Promise<number | null>;
  log: () => string;
  stop(): Promise<void>;
}

/** Every appliance process a test started: killed when the test process ends, even after a failed test. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** The appliance as a real process (`airlock appliance serve`), for kill -9 tests. */
export async function spawnAppliance(site: Site, dataDir: string, env: Record<string, string> = {}): Promise<ChildAppliance> {
  const port = await freePort();
  const child = spawn(process.execPath, [BINARY, 'appliance', 'serve', '--data', dataDir, '--trust', site.trustPath, '--listen', `127.0.0.1:${port}`, '--media', site.media], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`appliance exited at start: ${output}`);
    if (output.includes('appliance listening')) break;
    if (Date.now() > deadline) throw new Error(`appliance did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    exited,
    log: () => output,
    token: async () => (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim(),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Calls the appliance's API. */
export async function api<T = Record<string, unknown>>(url: string, token: string | undefined, path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}${path}`, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string> | undefined) } });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
}

export interface ImportRecordView {
  id: string;
  state: 'running' | 'applied' | 'failed';
  stage: string;
  error: { code: string; message: string } | null;
  idempotent: boolean;
  sequence: number | null;
  stages: { stage: string; ms?: number }[];
  progress: { bytes: number; totalBytes: number | null };
}

/** Starts an import of a media file and waits for its end. */
export async function importPath(url: string, token: string, path: string): Promise<ImportRecordView> {
  const started = await api<{ id: string }>(url, token, '/api/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path }) });
  if (started.status !== 202) throw new Error(`import refused: ${started.status} ${JSON.stringify(started.body)}`);
  return waitImport(url, token, started.body.id);
}

export async function waitImport(url: string, token: string, id: string): Promise<ImportRecordView> {
  for (;;) {
    const r = await api<ImportRecordView>(url, token, `/api/v1/imports/${id}`);
    if (r.body.state !== 'running') return r.body;
    await new Promise((res) => setTimeout(res, 50));
  }
}
