/**
 * deploy/: the Kubernetes manifests against a real kube-apiserver (server-side dry run with kubectl and with the
 * appliance's own cluster client; then, with the RBAC applied, SubjectAccessReviews of what the ServiceAccount may
 * and may not do), and the systemd unit through `systemd-analyze verify` and `security`.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Cluster } from '../../appliance/reconcile/cluster.js';
import type { KubeObject } from '../../src/manifests/documents.js';
import { exec, run } from '../helpers/exec.js';
import { type TestCluster, startCluster } from '../helpers/kube.js';
import { BINARY } from '../helpers/cli.js';

const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();
const K8S = join(ROOT, 'deploy', 'kubernetes');
const UNIT = join(ROOT, 'deploy', 'systemd', 'airlock.service');

let kube: TestCluster;
let objects: (KubeObject & { spec?: Record<string, unknown> })[];

async function manifests(): Promise<typeof objects> {
  const out: typeof objects = [];
  for (const name of (await readdir(K8S)).filter((n) => n.endsWith('.yaml') && n !== 'kustomization.yaml').sort()) {
    for (const doc of parseAllDocuments(await readFile(join(K8S, name), 'utf8'))) {
      if (doc.errors.length) throw new Error(`${name}: ${doc.errors[0]?.message}`);
      const value = doc.toJS() as (typeof objects)[number] | null;
      if (value) out.push(value);
    }
  }
  return out;
}

const kubectl = (args: string[]) => exec('kubectl', ['--kubeconfig', kube.kubeconfig, ...args]);

beforeAll(async () => {
  objects = await manifests();
  kube = await startCluster();
}, 600_000);

afterAll(async () => {
  await kube?.stop();
});

describe('deploy/kubernetes', () => {
  it('holds a Namespace, ServiceAccount, ClusterRole and binding, PVC, Deployment and Service', () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Namespace', 'PersistentVolumeClaim', 'Service', 'ServiceAccount']);
    const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { serviceAccountName: string; containers: Record<string, { httpGet?: { path: string } }>[] } } } };
    const container = deployment.spec.template.spec.containers[0] ?? {};
    expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(deployment.spec.template.spec.serviceAccountName).toBe('airlock');
  });

  it('passes a server-side dry run with kubectl (kustomization included) and with the appliance cluster client', async () => {
    // Namespaced objects can only be dry-run in a namespace that exists: the Namespace goes in for real first.
    const ns = await kubectl(['apply', '--server-side', '--field-manager=test', '-f', join(K8S, 'namespace.yaml')]);
    expect(ns.code, ns.stderr).toBe(0);
    const dry = await kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=test', '-k', K8S]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('deployment.apps/airlock serverside-applied (server dry run)');
    const cluster = Cluster.connect(kube.kubeconfig);
    if (!cluster) throw new Error('no cluster from the kubeconfig');
    for (const object of objects) {
      const live = await cluster.apply(object, { dryRun: true });
      expect(live.metadata?.name).toBe(object.metadata?.name);
    }
    // A dry run writes nothing.
    expect((await kube.request('/apis/apps/v1/namespaces/airlock/deployments/airlock')).status).toBe(404);
  });

  it('gives the ServiceAccount get/create/patch/delete on the kinds it applies, and nothing more', async () => {
    const applied = await kubectl(['apply', '--server-side', '--field-manager=test', '-f', join(K8S, 'serviceaccount.yaml'), '-f', join(K8S, 'rbac.yaml')]);
    expect(applied.code, applied.stderr).toBe(0);
    const may = async (verb: string, group: string, resource: string, namespace = 'shop') => {
      const res = await kube.request('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'system:serviceaccount:airlock:airlock', groups: ['system:serviceaccounts', 'system:serviceaccounts:airlock', 'system:authenticated'], resourceAttributes: { verb, group, resource, namespace } } }),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { status: { allowed: boolean } }).status.allowed;
    };
    for (const verb of ['get', 'create', 'patch', 'delete']) {
      expect(await may(verb, 'apps', 'deployments'), `${verb} deployments`).toBe(true);
      expect(await may(verb, '', 'configmaps'), `${verb} configmaps`).toBe(true);
      expect(await may(verb, '', 'namespaces', ''), `${verb} namespaces`).toBe(true);
      expect(await may(verb, 'apiextensions.k8s.io', 'customresourcedefinitions', ''), `${verb} CRDs`).toBe(true);
    }
    for (const [verb, group, resource] of [
      ['list', 'apps', 'deployments'],
      ['watch', '', 'configmaps'],
      ['update', 'apps', 'deployments'],
      ['deletecollection', '', 'configmaps'],
      ['get', '', 'secrets'],
      ['create', '', 'pods'],
      ['create', 'rbac.authorization.k8s.io', 'clusterrolebindings'],
      ['escalate', 'rbac.authorization.k8s.io', 'clusterroles'],
      ['delete', '', 'nodes'],
    ] as const) {
      expect(await may(verb, group, resource), `${verb} ${group}/${resource}`).toBe(false);
    }
  });
});

describe('deploy/systemd/airlock.service', () => {
  const analyze = existsSync('/usr/bin/systemd-analyze') || existsSync('/bin/systemd-analyze');
  // ExecStart names /usr/bin/airlock (where a package installs it); verify needs the executable to exist, so the
  // copy checked here points at this checkout's bin/airlock.js, the same executable.
  const checkable = async () => {
    const text = await readFile(UNIT, 'utf8');
    expect(text).toMatch(/^ExecStart=\/usr\/bin\/airlock appliance serve --data \/var\/lib\/airlock --trust /m);
    const dir = join(kube.dir, 'unit');
    await run('mkdir', ['-p', dir]);
    await writeFile(join(dir, 'airlock.service'), text.replace('ExecStart=/usr/bin/airlock ', `ExecStart=${BINARY} `));
    return join(dir, 'airlock.service');
  };

  it('restarts on failure, keeps its data in /var/lib/airlock and is hardened', async () => {
    const text = await readFile(UNIT, 'utf8');
    for (const line of ['Restart=on-failure', 'StateDirectory=airlock', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'CapabilityBoundingSet=', 'User=airlock']) expect(text).toContain(`\n${line}\n`);
  });

  // The check needs the binary; without it the test says so in its name and checks only that it is missing.
  it(analyze ? 'passes systemd-analyze verify and rates OK in systemd-analyze security' : 'systemd-analyze verify NOT RUN: the systemd-analyze binary is missing here', async () => {
    if (!analyze) {
      expect((await exec('sh', ['-c', 'command -v systemd-analyze'])).code).not.toBe(0);
      return;
    }
    const unit = await checkable();
    const verified = await exec('systemd-analyze', ['verify', unit]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stderr).toBe('');
    const security = await exec('systemd-analyze', ['security', '--offline=yes', '--no-pager', unit]);
    const level = /Overall exposure level for airlock\.service: ([\d.]+)/.exec(security.stdout + security.stderr);
    expect(Number(level?.[1])).toBeLessThanOrEqual(3);
  });
});
