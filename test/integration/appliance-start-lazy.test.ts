/**
 * What `appliance serve` loads at start (issue 14, the depot benchmark): an appliance without a cluster — one that
 * only imports (from a stick or a depot) and serves — never loads the cluster client (reconcile/cluster.ts and its
 * kubeconfig loader) nor the reconciler; with a kubeconfig it does, and no Kubernetes client library (ADR 023). The modules are seen by a Node module hook in the real
 * process, started as `airlock` runs it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINARY } from '../helpers/cli.js';
import { makeTrust } from '../helpers/trust.js';

let dir: string;
let register: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-start-lazy-'));
  await writeFile(join(dir, 'root.json'), makeTrust().text);
  // every module the process loads, one URL a line, appended as it loads
  await writeFile(join(dir, 'hook.mjs'), "import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  appendFileSync(process.env.AIRLOCK_TEST_LOADED, `${url}\\n`);\n  return next(url, context);\n}\n");
  await writeFile(join(dir, 'register.mjs'), "import { register } from 'node:module';\nregister('./hook.mjs', import.meta.url);\n");
  register = pathToFileURL(join(dir, 'register.mjs')).href;
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** Starts `appliance serve` with `args` until its log says `until`; the modules it loaded by then. */
async function modulesAtStart(name: string, args: string[], until: string): Promise<string[]> {
  const loaded = join(dir, `${name}.loaded`);
  const env: NodeJS.ProcessEnv = { ...process.env, AIRLOCK_TEST_LOADED: loaded };
  delete env.KUBERNETES_SERVICE_HOST;
  const child = spawn(process.execPath, ['--import', register, BINARY, 'appliance', 'serve', '--data', join(dir, `${name}-data`), '--trust', join(dir, 'root.json'), '--listen', '127.0.0.1:0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (out.includes(until)) return resolve();
      if (child.exitCode !== null) return reject(new Error(`appliance serve exited ${child.exitCode}: ${out}`));
      setTimeout(check, 50);
    };
    check();
  });
  child.kill('SIGTERM');
  await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
  return (await readFile(loaded, 'utf8')).split('\n').filter(Boolean);
}

describe('appliance serve loads only what it uses', () => {
  it('without a cluster (a depot-only site): no cluster client, no reconciler', async () => {
    const mods = await modulesAtStart('depot', ['--channel', 'stable', '--depot', 'oci://127.0.0.1:9/fleet/site', '--depot-interval', '1h'], 'following the depot');
    expect(mods.some((m) => m.endsWith('/appliance/server.js'))).toBe(true);
    expect(mods.some((m) => m.endsWith('/appliance/depot/start.js'))).toBe(true);
    expect(mods.filter((m) => m.includes('@kubernetes/client-node'))).toEqual([]);
    expect(mods.filter((m) => /\/reconcile\/(reconciler|cluster|kubeconfig|kube-auth|discovery)\.js$/.test(m))).toEqual([]);
  }, 60_000);

  it('with --kubeconfig: the cluster client (our own, no library) and the reconciler load', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, 'apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nclusters:\n- name: k\n  cluster: {server: "https://127.0.0.1:9"}\nusers:\n- name: u\n  user: {token: not-a-real-token}\n');
    const mods = await modulesAtStart('kube', ['--kubeconfig', kubeconfig], '"msg":"reconciling"');
    for (const own of ['cluster', 'kubeconfig', 'kube-auth', 'discovery', 'reconciler']) expect(mods.some((m) => m.endsWith(`/reconcile/${own}.js`)), own).toBe(true);
    expect(mods.filter((m) => m.includes('@kubernetes/client-node'))).toEqual([]);
  }, 60_000);
});
