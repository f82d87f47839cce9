/**
 * `npm run demo`: builds a demo bundle end to end from content it creates itself (two images sharing a layer in
 * an OCI layout, a Git repository with manifests, a directory of YAML), verifies and inspects it, then starts an
 * appliance, uploads the bundle to it and prints where its registry and Git mirror are — all through the real
 * `airlock` commands.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import git from 'isomorphic-git';
import { MediaType, type Descriptor } from '../src/descriptor.js';
import { sha256Digest } from '../src/digest.js';
import { OciLayoutStore } from '../src/oci-layout.js';
import { buildManifestTar } from '../src/manifests/manifest-tar.js';
import { jsonLogger } from '../appliance/context.js';
import { startAppliance } from '../appliance/server.js';
import { loadTrustRoot } from '../keys/trust-root.js';
import { kubeCached, startCluster } from '../test/helpers/kube.js';
import { main } from './main.js';

const dir = resolve(process.argv[2] ?? 'demo');

async function run(args: string[]): Promise<void> {
  process.stdout.write(`\n$ airlock ${args.join(' ')}\n`);
  const code = await main(args, { stdout: process.stdout, stderr: process.stderr, interactive: process.stderr.isTTY === true });
  if (code !== 0) throw new Error(`airlock ${args.slice(0, 2).join(' ')} exited ${code}`);
}

async function pushJson(store: OciLayoutStore, mediaType: string, value: unknown): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(value));
  const desc = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  await store.push(desc, Readable.from([bytes]));
  return desc;
}

async function pushLayer(store: OciLayoutStore, files: Record<string, string>): Promise<{ desc: Descriptor; diffId: string }> {
  const tar = buildManifestTar(Object.entries(files).map(([path, text]) => ({ path, content: Buffer.from(text) })));
  const desc = { mediaType: MediaType.ociLayerTar, digest: sha256Digest(tar), size: tar.length };
  await store.push(desc, Readable.from([tar]));
  return { desc, diffId: desc.digest };
}

async function makeImage(store: OciLayoutStore, name: string, layers: { desc: Descriptor; diffId: string }[]): Promise<void> {
  const config = await pushJson(store, MediaType.ociConfig, {
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/app'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  });
  const manifest = await pushJson(store, MediaType.ociManifest, { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: layers.map((l) => l.desc) });
  await store.tag(manifest, name);
}

async function makeGitRepo(repo: string): Promise<void> {
  await mkdir(join(repo, 'clusters', 'store'), { recursive: true });
  await git.init({ fs, dir: repo, defaultBranch: 'main' });
  await writeFile(join(repo, 'README.md'), '# platform\nCluster configuration for the store edge sites.\n');
  await writeFile(
    join(repo, 'clusters', 'store', 'config.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: store-config\n  namespace: store\ndata:\n  region: north\n',
  );
  for (const path of ['README.md', 'clusters/store/config.yaml']) await git.add({ fs, dir: repo, filepath: path });
  await git.commit({ fs, dir: repo, message: 'store config', author: { name: 'airlock demo', email: 'demo@airlock.invalid' } });
}

async function demo(): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'k8s'), { recursive: true });
  process.stdout.write(`airlock demo in ${dir}\n`);

  const layout = await OciLayoutStore.open(join(dir, 'images'), { create: true });
  const base = await pushLayer(layout, { 'etc/os-release': 'NAME=demo-base\n', 'bin/sh': '#!demo shell\n' });
  await makeImage(layout, 'store/web:1.0', [base, await pushLayer(layout, { 'bin/app': 'web server v1.0\n' })]);
  await makeImage(layout, 'store/worker:1.0', [base, await pushLayer(layout, { 'bin/app': 'worker v1.0\n' })]);
  await makeGitRepo(join(dir, 'platform'));
  await writeFile(
    join(dir, 'k8s', 'web.yaml'),
    [
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: store\n---',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: store\nspec:\n  replicas: 1\n  selector:\n    matchLabels: { app: web }\n  template:\n    metadata:\n      labels: { app: web }\n    spec:\n      containers:\n        - name: web\n          image: store/web:1.0\n---',
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: store\nspec:\n  selector: { app: web }\n  ports:\n    - port: 80\n      protocol: TCP\n',
    ].join('\n'),
  );
  await writeFile(
    join(dir, 'airlock.yaml'),
    `apiVersion: airlock.dev/v1
kind: Bundle
metadata:
  name: store-edge
  channel: stable
expires: 90d
# The demo's images live in a local OCI layout, so image discovery from the manifests is off.
discoverImages: false
images:
  - oci:./images:store/web:1.0
  - oci:./images:store/worker:1.0
git:
  - name: platform
    url: ./platform
    ref: main
    manifests: clusters/store
manifests:
  - ./k8s
`,
  );

  const k = (name: string) => join(dir, name);
  await run(['keys', 'generate', '--out', k('root'), '--name', 'demo root']);
  await run(['keys', 'generate', '--out', k('release'), '--name', 'demo release']);
  await run(['trust', 'init', '--root-key', k('root.pub'), '--release-key', k('release.pub'), '--sign', k('root.key'), '--out', k('root.json')]);
  await run(['bundle', 'create', '-f', k('airlock.yaml'), '--key', k('release.key'), '-o', k('store-edge.airlock'), '--sequence', '1']);
  await run(['bundle', 'verify', k('store-edge.airlock'), '--trust', k('root.json')]);
  await run(['bundle', 'inspect', k('store-edge.airlock')]);
  await onSite(k);
}

/**
 * The on-site half: an appliance on a free port, the bundle uploaded to it, and where to pull from. When the local
 * Kubernetes API server the tests use is built (npm test builds it once), the appliance also reconciles it.
 */
async function onSite(k: (name: string) => string): Promise<void> {
  const cluster = (await kubeCached()) ? await startCluster() : undefined;
  const passwordFile = k('admin-password');
  await writeFile(passwordFile, `${randomBytes(12).toString('base64url')}\n`, { mode: 0o600 });
  const appliance = await startAppliance({
    adminPasswordFile: passwordFile,
    dataDir: k('appliance'),
    trust: loadTrustRoot(await readFile(k('root.json'), 'utf8'), new Date(), 'root.json'),
    port: 0,
    log: jsonLogger(() => undefined),
    ...(cluster ? { kubeconfig: cluster.kubeconfig, intervalMs: 10_000, selfHeal: true } : {}),
  });
  process.stdout.write(`\nappliance started at ${appliance.url} (data in ${k('appliance')})\n`);
  await run(['appliance', 'import', k('store-edge.airlock'), '--server', appliance.url, '--token-file', appliance.adminTokenPath, '--wait']);
  const host = appliance.url.replace(/^http:\/\//, '');
  const catalog = (await (await fetch(`${appliance.url}/v2/_catalog`)).json()) as { repositories: string[] };
  const token = (await readFile(appliance.adminTokenPath, 'utf8')).trim();
  const status = (await (await fetch(`${appliance.url}/api/v1/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as { channels: { channel: string; sequence: number; rootDigest: string }[] };
  process.stdout.write(
    [
      '',
      `in force: ${status.channels.map((c) => `channel ${c.channel}, sequence ${c.sequence}, root ${c.rootDigest}`).join('; ')}`,
      `registry: ${host}  (images: ${catalog.repositories.join(', ')})`,
      `  try:    skopeo inspect --tls-verify=false docker://${host}/store/web:1.0`,
      `git:      ${appliance.url}/git/platform.git`,
      `  try:    git clone ${appliance.url}/git/platform.git`,
      `web UI:   ${appliance.url}/ui/  (sign in as admin with the password in ${passwordFile})`,
      `api:      ${appliance.url}/api/v1/status  (token in ${appliance.adminTokenPath})`,
      '',
    ].join('\n'),
  );
  if (cluster) await showCluster(appliance.url, token, cluster.kubeconfig);
  else process.stdout.write('cluster:  not reconciled (run `npm test` once: it builds a local Kubernetes API server, and the demo then syncs it too)\n\n');
  await headquarters(k, appliance.url, appliance.adminTokenPath);
  if (process.stdout.isTTY) {
    process.stdout.write('The appliance keeps running; press Ctrl-C to stop it.\n');
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
  await appliance.close();
  await cluster?.stop();
  process.stdout.write('Done.\n');
}

/**
 * Back at headquarters: the site's signed receipt (carried on a stick here; with --depot it is pushed to the
 * registry) read by `airlock fleet status` against a fleet file that lists the site and its appliance key.
 */
async function headquarters(k: (name: string) => string, url: string, tokenFile: string): Promise<void> {
  await mkdir(k('receipts'), { recursive: true });
  await run(['appliance', 'receipt', '--server', url, '--token-file', tokenFile, '-o', k('receipts/store-0042.json'), '--key-out', k('store-0042.pub')]);
  await rm(k('store-0043.key'), { force: true });
  await rm(k('store-0043.pub'), { force: true });
  await run(['keys', 'generate', '--out', k('store-0043'), '--name', 'store-0043 appliance (a second site, not started here)']);
  await writeFile(
    k('fleet.yaml'),
    'apiVersion: airlock.dev/v1\nkind: Fleet\nstale: 24h\nsites:\n  - {name: store-0042, labels: {region: eu, ring: canary}, key: store-0042.pub}\n  - {name: store-0043, labels: {region: eu}, key: store-0043.pub}\nwaves:\n  - {name: canary, selector: {matchLabels: {ring: canary}}, gate: {healthy: 100%, soak: 30m}}\n  - {name: everyone, selector: {}}\n',
  );
  await run(['fleet', 'status', '-f', k('fleet.yaml'), '--receipts', k('receipts'), '--head', k('store-edge.airlock'), '--by', 'region']);
  process.stdout.write(
    '  store-0042 counts as degraded while its Deployment is Progressing (the demo API server has no kubelet);\n  store-0043 has sent no receipt yet: never-reported, never counted healthy. A wave waits for both.\n\n',
  );
}

/** Waits for the first sync of the demo bundle and shows what the cluster now holds. */
async function showCluster(url: string, token: string, kubeconfig: string): Promise<void> {
  interface Objects { channels: { sync: string; health: string; reason?: string; objects: { kind: string; namespace?: string; name: string; sync: string; health: string }[] }[] }
  const deadline = Date.now() + 60_000;
  let view: Objects['channels'][number] | undefined;
  while (Date.now() < deadline) {
    view = ((await (await fetch(`${url}/api/v1/objects`, { headers: { authorization: `Bearer ${token}` } })).json()) as Objects).channels[0];
    if (view && view.objects.length) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!view) throw new Error('the cluster was not synced within a minute');
  process.stdout.write(
    [
      `cluster:  ${view.sync}, ${view.health}${view.reason ? ` (${view.reason})` : ''}; a local kube-apiserver without kubelet, so workloads stay Progressing`,
      ...view.objects.map((o) => `  ${o.sync.padEnd(9)} ${o.health.padEnd(11)} ${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`),
      `  try:    kubectl --kubeconfig ${kubeconfig} -n store get deploy web -o jsonpath='{.spec.template.spec.containers[0].image}'`,
      '',
    ].join('\n'),
  );
}

demo().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
