/**
 * The appliance's own kubeconfig loader and credentials (ADR 023) against a real kube-apiserver: token, tokenFile,
 * client certificates (the server trusts a CA made here with openssl), exec credential plugins (run once, reused
 * until expiry, run again after), the server's self-signed certificate as certificate-authority (with and without
 * tls-server-name; a wrong CA or name fails), relative paths, the in-cluster service account from an injected
 * directory, and the errors start-up gives for what cannot be used.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH_TTL_MS, Cluster, statusOf } from '../../appliance/reconcile/cluster.js';
import { inClusterConfig, loadKubeconfig } from '../../appliance/reconcile/kubeconfig.js';
import { objectPath } from '../../appliance/reconcile/kube-paths.js';
import { AirlockError } from '../../src/errors.js';
import { run } from '../helpers/exec.js';
import { type TestCluster, startCluster } from '../helpers/kube.js';

let kube: TestCluster;
let dir: string;
const clients: Cluster[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-kubeconfig-'));
  // a client CA the API server trusts, and a certificate it signed for a user in system:masters
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'client-ca.key'), '-out', join(dir, 'client-ca.crt'), '-days', '1', '-subj', '/CN=airlock-test-client-ca']);
  await mkdir(join(dir, 'pki'));
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'pki', 'client.key'), '-out', join(dir, 'client.csr'), '-subj', '/CN=cert-admin/O=system:masters']);
  await run('openssl', ['x509', '-req', '-in', join(dir, 'client.csr'), '-CA', join(dir, 'client-ca.crt'), '-CAkey', join(dir, 'client-ca.key'), '-CAcreateserial', '-out', join(dir, 'pki', 'client.crt'), '-days', '1']);
  kube = await startCluster({ clientCaFile: join(dir, 'client-ca.crt') });
  await copyFile(kube.servingCert, join(dir, 'pki', 'apiserver-ca.crt'));
  await writeFile(join(dir, 'pki', 'token'), `${kube.token}\n`);
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await kube?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A kubeconfig in `dir` with one context; `cluster` and `user` are YAML flow mappings. */
async function kubeconfig(name: string, cluster: string, user: string, extra = ''): Promise<string> {
  const file = join(dir, `${name}.kubeconfig`);
  await writeFile(file, `apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nclusters:\n- name: k\n  cluster: ${cluster}\nusers:\n- name: u\n  user: ${user}\n${extra}`);
  return file;
}

function connect(file: string, opts: { now?: () => number; env?: NodeJS.ProcessEnv } = {}): Cluster {
  const c = Cluster.connect(file, opts.env ?? process.env, 10_000, { now: opts.now }) as Cluster;
  clients.push(c);
  return c;
}

const insecure = () => `{server: "${kube.server}", insecure-skip-tls-verify: true}`;
const verified = (extra = '') => `{server: "${kube.server}", certificate-authority: pki/apiserver-ca.crt${extra}}`;

/** A ConfigMap applied and read back through `c`: proves the credentials and TLS settings work end to end. */
async function roundTrip(c: Cluster, name: string): Promise<void> {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { who: name } };
  await c.apply(cm);
  expect((await c.get(cm))?.data).toEqual({ who: name });
}

async function failure(p: Promise<unknown>): Promise<AirlockError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AirlockError);
  return err as AirlockError;
}

describe('credentials', () => {
  it('a token, with the server certificate verified against a relative certificate-authority', async () => {
    const c = connect(await kubeconfig('token-ca', verified(), `{token: ${kube.token}}`));
    expect(await c.resource('v1', 'ConfigMap')).toEqual({ plural: 'configmaps', namespaced: true });
    expect(await c.resource('apps/v1', 'Deployment')).toEqual({ plural: 'deployments', namespaced: true }); // not deployments/scale
    expect(await c.resource('example.invalid/v1', 'Nothing')).toBeUndefined();
    await roundTrip(c, 'token-ca');
  });

  it('a tokenFile (relative) and tls-server-name', async () => {
    await roundTrip(connect(await kubeconfig('token-file', verified(', tls-server-name: kubernetes.default.svc'), '{tokenFile: pki/token}')), 'token-file');
  });

  it('a client certificate and key (relative files, and inline data)', async () => {
    await roundTrip(connect(await kubeconfig('cert-files', verified(), '{client-certificate: pki/client.crt, client-key: pki/client.key}')), 'cert-files');
    const [crt, key] = [await readFile(join(dir, 'pki', 'client.crt')), await readFile(join(dir, 'pki', 'client.key'))];
    await roundTrip(connect(await kubeconfig('cert-data', insecure(), `{client-certificate-data: ${crt.toString('base64')}, client-key-data: ${key.toString('base64')}}`)), 'cert-data');
  });

  it('no credentials: the server answers as to anyone, and the error is the server\'s (403)', async () => {
    const err = await failure(connect(await kubeconfig('anonymous', insecure(), '{}')).apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' } }));
    expect(err.code).toBe('KUBE_ERROR');
    expect(statusOf(err)).toBe(403);
    expect(err.message).toContain('forbidden');
  });

  it('a wrong certificate authority or tls-server-name: KUBE_UNREACHABLE', async () => {
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'other.key'), '-out', join(dir, 'pki', 'other-ca.crt'), '-days', '1', '-subj', '/CN=not-the-apiserver-ca']);
    const wrongCa = await failure(connect(await kubeconfig('wrong-ca', `{server: "${kube.server}", certificate-authority: pki/other-ca.crt}`, `{token: ${kube.token}}`)).resource('v1', 'ConfigMap'));
    expect(wrongCa.code).toBe('KUBE_UNREACHABLE');
    expect(wrongCa.message).toMatch(/certificate/i);
    const wrongName = await failure(connect(await kubeconfig('wrong-name', verified(', tls-server-name: not-the-apiserver.example'), `{token: ${kube.token}}`)).resource('v1', 'ConfigMap'));
    expect(wrongName.code).toBe('KUBE_UNREACHABLE');
    expect(wrongName.message).toContain('not-the-apiserver.example');
  });
});

describe('exec credential plugins', () => {
  /** A plugin script that counts its runs, keeps its KUBERNETES_EXEC_INFO and prints an ExecCredential. */
  async function plugin(name: string, status: string): Promise<{ runs: () => Promise<number>; status: (s: string) => Promise<void> }> {
    const script = join(dir, 'bin', name);
    await mkdir(join(dir, 'bin'), { recursive: true });
    await writeFile(script, `#!/bin/sh\necho run >> "$0.runs"\nprintf '%s' "$KUBERNETES_EXEC_INFO" > "$0.info"\nprintf '{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": '\ncat "$0.status"\necho '}'\n`);
    await chmod(script, 0o755);
    await writeFile(`${script}.status`, status);
    return {
      runs: async () => (await readFile(`${script}.runs`, 'utf8').catch(() => '')).split('\n').filter(Boolean).length,
      status: (s: string) => writeFile(`${script}.status`, s),
    };
  }
  const exec = (name: string, env = '[]') => `{exec: {apiVersion: client.authentication.k8s.io/v1, command: ./bin/${name}, args: [], env: ${env}, interactiveMode: Never}}`;

  it('runs once, reuses the credential until its expirationTimestamp, runs again after', async () => {
    const expires = new Date(Date.now() + 3600_000).toISOString();
    const p = await plugin('token-plugin', `{"token": "${kube.token}", "expirationTimestamp": "${expires}"}`);
    let now = Date.now();
    const c = connect(await kubeconfig('exec', verified(), exec('token-plugin')), { now: () => now });
    await c.checkCredentials(); // what start-up does
    await roundTrip(c, 'exec-1');
    now += 5 * AUTH_TTL_MS; // the options are worked out again, the credential is still good
    await roundTrip(c, 'exec-2');
    expect(await p.runs()).toBe(1);
    expect(JSON.parse(await readFile(join(dir, 'bin', 'token-plugin.info'), 'utf8'))).toEqual({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false } });
    now = Date.parse(expires) + 1;
    await p.status(`{"token": "${kube.token}", "expirationTimestamp": "${new Date(now + 3600_000).toISOString()}"}`);
    await roundTrip(c, 'exec-3');
    await roundTrip(c, 'exec-4');
    expect(await p.runs()).toBe(2);
  });

  it('without an expiry: reused for the credentials TTL, then run again; its env list is passed', async () => {
    const script = join(dir, 'bin', 'env-plugin');
    await mkdir(join(dir, 'bin'), { recursive: true });
    await writeFile(script, `#!/bin/sh\necho run >> "$0.runs"\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$THE_TOKEN"\n`);
    await chmod(script, 0o755);
    let now = Date.now();
    const c = connect(await kubeconfig('exec-env', insecure(), exec('env-plugin', `[{name: THE_TOKEN, value: "${kube.token}"}]`)), { now: () => now });
    await roundTrip(c, 'exec-env-1');
    await roundTrip(c, 'exec-env-2');
    const runs = async () => (await readFile(`${script}.runs`, 'utf8')).split('\n').filter(Boolean).length;
    expect(await runs()).toBe(1);
    now += AUTH_TTL_MS + 1;
    await roundTrip(c, 'exec-env-3');
    expect(await runs()).toBe(2);
  });

  it('a client certificate from the plugin', async () => {
    const [crt, key] = [await readFile(join(dir, 'pki', 'client.crt'), 'utf8'), await readFile(join(dir, 'pki', 'client.key'), 'utf8')];
    await plugin('cert-plugin', JSON.stringify({ clientCertificateData: crt, clientKeyData: key }));
    await roundTrip(connect(await kubeconfig('exec-cert', verified(), exec('cert-plugin'))), 'exec-cert');
  });

  it('a failing plugin: the error names the command and its stderr', async () => {
    const script = join(dir, 'bin', 'failing-plugin');
    await writeFile(script, '#!/bin/sh\necho "error: you must be logged in to the identity provider" >&2\nexit 3\n');
    await chmod(script, 0o755);
    const err = await failure(connect(await kubeconfig('exec-fails', insecure(), exec('failing-plugin'))).checkCredentials());
    expect(err.message).toContain(`${join(dir, 'bin', 'failing-plugin')} failed (exit 3): error: you must be logged in to the identity provider`);
    const missing = await failure(connect(await kubeconfig('exec-missing', insecure(), '{exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: no-such-plugin-airlock}}')).resource('v1', 'ConfigMap'));
    expect(missing.code).toBe('KUBE_UNREACHABLE');
    expect(missing.message).toContain('no-such-plugin-airlock cannot be run (ENOENT');
  });
});

describe('what cannot be used is refused when the kubeconfig is loaded', () => {
  const refused = async (name: string, text: string): Promise<AirlockError> => {
    const file = join(dir, `${name}.kubeconfig`);
    await writeFile(file, text);
    let err: unknown;
    try {
      loadKubeconfig(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AirlockError);
    expect((err as AirlockError).code).toBe('USAGE');
    return err as AirlockError;
  };

  it('a missing context, cluster or user', async () => {
    const base = 'apiVersion: v1\nkind: Config\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nclusters:\n- name: k\n  cluster: {server: "https://127.0.0.1:1"}\nusers:\n- name: u\n  user: {token: t}\n';
    expect((await refused('no-context', `${base}current-context: nope\n`)).message).toBe('it names no current context (no context "nope")');
    expect((await refused('no-current', base)).message).toBe('it names no current context');
    expect((await refused('no-cluster', base.replace('cluster: k,', 'cluster: gone,') + 'current-context: c\n')).message).toBe('its current context names no cluster with a server');
    expect((await refused('no-user', base.replace('user: u}', 'user: gone}') + 'current-context: c\n')).message).toBe('its current context names no user');
    expect((await refused('ftp', base.replace('https://127.0.0.1:1', 'ftp://127.0.0.1:1') + 'current-context: c\n')).message).toBe('the server ftp://127.0.0.1:1 is not an http(s) URL');
  });

  it('auth-provider, proxy-url, an old exec apiVersion, an interactive-only plugin', async () => {
    const text = (cluster: string, user: string) => `apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nclusters:\n- name: k\n  cluster: ${cluster}\nusers:\n- name: u\n  user: ${user}\n`;
    const server = '{server: "https://127.0.0.1:1"}';
    const ap = await refused('auth-provider', text(server, '{auth-provider: {name: oidc, config: {idp-issuer-url: "https://idp.example"}}}'));
    expect(ap.message).toContain('users[u].user.auth-provider (oidc) is not supported');
    expect(ap.message).toContain('use an exec credential plugin');
    expect((await refused('proxy', text('{server: "https://127.0.0.1:1", proxy-url: "http://proxy:3128"}', '{token: t}'))).message).toContain('clusters[k].cluster.proxy-url is not supported');
    expect((await refused('alpha', text(server, '{exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}}'))).message).toContain('use client.authentication.k8s.io/v1 or v1beta1');
    expect((await refused('always', text(server, '{exec: {apiVersion: client.authentication.k8s.io/v1, command: x, interactiveMode: Always}}'))).message).toContain('interactiveMode Always needs a terminal');
  });
});

describe('in-cluster service account, paths', () => {
  it('reads the token (again as it rotates), ca.crt and the namespace from the injected directory', async () => {
    const sa = join(dir, 'serviceaccount');
    await mkdir(sa);
    await copyFile(kube.servingCert, join(sa, 'ca.crt'));
    await writeFile(join(sa, 'token'), kube.token);
    await writeFile(join(sa, 'namespace'), 'kube-system\n');
    const port = new URL(kube.server).port;
    const env = { ...process.env, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port };
    let now = Date.now();
    const c = Cluster.connect(undefined, env, 10_000, { serviceAccountDir: sa, now: () => now }) as Cluster;
    clients.push(c);
    expect(c.server).toBe(`https://127.0.0.1:${port}`);
    expect(c.kubeConfig.namespace).toBe('kube-system');
    await roundTrip(c, 'in-cluster');
    await writeFile(join(sa, 'token'), 'rotated-to-a-token-the-server-does-not-know');
    now += AUTH_TTL_MS + 1;
    const err = await failure(c.get({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'in-cluster', namespace: 'default' } }));
    expect(statusOf(err)).toBe(401);
    expect(inClusterConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa).cluster.server).toBe('https://[fd00::1]:443');
  });

  it('paths as the library built them (default namespace, encoded names), names not lower-cased', async () => {
    expect(objectPath({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a:b' } }, { plural: 'configmaps', namespaced: true })).toBe('/api/v1/namespaces/default/configmaps/a%3Ab');
    expect(objectPath({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'Airlock:Reader', namespace: 'ignored' } }, { plural: 'clusterroles', namespaced: false })).toBe('/apis/rbac.authorization.k8s.io/v1/clusterroles/Airlock%3AReader');
    const c = connect(await kubeconfig('paths', insecure(), `{token: ${kube.token}}`));
    const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'Airlock:Reader' }, rules: [] };
    await c.apply(role);
    expect((await c.get(role))?.metadata?.name).toBe('Airlock:Reader');
    const unknown = await failure(c.get({ apiVersion: 'v1', kind: 'NoSuchKind', metadata: { name: 'x' } }));
    expect(unknown.code).toBe('KUBE_INVALID');
    expect(await c.get({ apiVersion: 'gone.example/v1', kind: 'Thing', metadata: { name: 'x' } })).toBeUndefined();
  });
});
