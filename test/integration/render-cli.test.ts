/** `airlock render` through the real executable, over a bundle this test builds (manifest set and Git source). */
import { mkdtemp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildBundle } from '../../bundler/build.js';
import { parseSpec } from '../../bundler/spec.js';
import { airlock } from '../helpers/cli.js';
import { gitCommit, gitInit } from '../helpers/git-repo.js';
import { makeTrust } from '../helpers/trust.js';

let dir: string;
let bundle: string;
let rootJson: string;

const SPEC = `apiVersion: airlock.dev/v1
kind: Bundle
metadata: {name: shop, channel: stable}
discoverImages: false
values:
  replicas: "1"
manifests:
  - ./common
  - path: ./app
    placement:
      clusterSelector:
        matchExpressions: [{key: role, operator: In, values: [pos]}]
    overrides:
      - clusterSelector: {matchLabels: {tier: large}}
        values: {replicas: "3"}
        patches:
          - {target: {kind: Deployment, name: web, namespace: shop}, op: add, path: /metadata/labels/size, value: large}
        images:
          - {match: ghcr.io/acme/web, tag: "2.0"}
      - clusterSelector: {matchLabels: {region: eu}}
        images:
          - {match: redis, tag: "7"}
git:
  - name: extras
    url: ./extras-repo
    manifests: deploy
    placement:
      clusterSelector: {matchLabels: {tier: large}}
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-render-'));
  await mkdir(join(dir, 'common'));
  await mkdir(join(dir, 'app'));
  await writeFile(join(dir, 'common', 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n');
  await writeFile(
    join(dir, 'app', 'web.yaml'),
    `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: \${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web:1.0
          env:
            - {name: STORE, value: "\${storeNumber}"}
            - {name: GATEWAY, value: "\${gateway:=none}"}
`,
  );
  const repo = join(dir, 'extras-repo');
  await gitInit(repo);
  await gitCommit(repo, { 'deploy/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extras, namespace: shop}\ndata: {store: "${storeNumber}"}\n' }, 'extras');
  await writeFile(join(dir, 'airlock.yaml'), SPEC);
  const trust = makeTrust();
  rootJson = join(dir, 'root.json');
  await writeFile(rootJson, trust.text);
  bundle = join(dir, 'shop.airlock');
  await buildBundle({ spec: parseSpec(SPEC, join(dir, 'airlock.yaml')), keys: trust.release, out: bundle, sequence: 1 });
  await writeFile(
    join(dir, 'site.yaml'),
    `apiVersion: airlock.dev/v1
kind: Site
metadata: {name: store-0042, labels: {region: eu}}
registryHost: registry.store.local:5000
values: {storeNumber: "0042"}
clusters:
  - {name: pos, kubeconfig: pos.kubeconfig, labels: {role: pos, tier: large}, values: {gateway: 10.0.0.1}}
  - {name: cameras, kubeconfig: cameras.kubeconfig, labels: {role: cameras}}
`,
  );
});

describe('airlock render', () => {
  it('prints per cluster exactly the objects the site applies, verified against the trust root', async () => {
    const r = await airlock(['render', bundle, '--site', join(dir, 'site.yaml'), '--trust', rootJson, '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('warning: cluster pos: manifests ./app: override 2 (airlock.yaml:20): the image override for redis matched no image of its objects\n');
    const out = JSON.parse(r.stdout) as { verified: boolean; clusters: { cluster: string; ok: boolean; objects: { kind: string; metadata: { name: string; labels: Record<string, string> }; spec?: { replicas?: number; template?: { spec: { containers: { image: string; env: { value: string }[] }[] } } }; data?: Record<string, string> }[]; account: { sources: { name: string; placed: boolean; values: { name: string; from: string }[] }[]; warnings: string[] } }[] };
    expect(out.verified).toBe(true);
    const pos = out.clusters.find((c) => c.cluster === 'pos');
    const cameras = out.clusters.find((c) => c.cluster === 'cameras');
    expect(pos?.objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['ConfigMap/extras', 'Deployment/web', 'Namespace/shop']);
    expect(cameras?.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Namespace/shop']);
    const web = pos?.objects.find((o) => o.kind === 'Deployment');
    expect(web?.spec?.replicas).toBe(3);
    expect(web?.metadata.labels).toMatchObject({ size: 'large', 'airlock.dev/owner': 'stable', 'airlock.dev/site': 'store-0042', 'airlock.dev/cluster': 'pos' });
    const container = web?.spec?.template?.spec.containers[0];
    expect(container?.image).toBe('registry.store.local:5000/acme/web:2.0');
    expect(container?.env.map((e) => e.value)).toEqual(['0042', '10.0.0.1']);
    expect(pos?.objects.find((o) => o.kind === 'ConfigMap')?.data).toEqual({ store: '0042' });
    expect(pos?.account.sources.find((s) => s.name === './app')?.values).toContainEqual({ name: 'replicas', value: '3', from: expect.stringMatching(/^override 1 \(airlock\.yaml:14\)$/) });
    expect(pos?.account.warnings).toEqual([expect.stringMatching(/override 2 \(airlock\.yaml:20\): the image override for redis matched no image/)]);
  });

  it('writes one file per object with -o, and says when the bundle was not verified', async () => {
    const out = join(dir, 'out');
    const r = await airlock(['render', bundle, '--site', join(dir, 'site.yaml'), '--cluster', 'pos', '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/was NOT verified/);
    expect((await readdir(out)).sort()).toEqual(['pos']);
    const files = (await readdir(join(out, 'pos'))).sort();
    expect(files).toEqual(['account.json', 'apps_Deployment_shop_web.yaml', 'core_ConfigMap_shop_extras.yaml', 'core_Namespace__shop.yaml']);
    const web = parseAllDocuments(await readFile(join(out, 'pos', 'apps_Deployment_shop_web.yaml'), 'utf8'))[0]?.toJS() as { spec: { replicas: number } };
    expect(web.spec.replicas).toBe(3);
  });

  it('exits 1 naming file, line, object and variable when a value is missing, still rendering the other clusters', async () => {
    const site = (await readFile(join(dir, 'site.yaml'), 'utf8')).replace('values: {storeNumber: "0042"}\n', '');
    await writeFile(join(dir, 'site-missing.yaml'), site);
    const r = await airlock(['render', bundle, '--site', join(dir, 'site-missing.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the render for cluster pos failed; nothing of it would be applied:\n {2}\.\/app\/web\.yaml:17: Deployment shop\/web: variable "storeNumber" has no value and no default/);
    expect(r.stdout).toMatch(/# cluster cameras: 1 object\(s\)/);
    expect(r.stdout).not.toMatch(/# cluster pos/);
  });

  it('refuses a bundle that does not verify against the trust root', async () => {
    const other = makeTrust();
    await writeFile(join(dir, 'other-root.json'), other.text);
    const r = await airlock(['render', bundle, '--site', join(dir, 'site.yaml'), '--trust', join(dir, 'other-root.json')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/SIGNATURE_INVALID|THRESHOLD_NOT_MET|signed/);
  });
});
