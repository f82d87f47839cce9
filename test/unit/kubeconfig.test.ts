/**
 * The kubeconfig loader's rules that need no API server (ADR 023): paths resolved as kubectl resolves them, inline
 * data over files, the request options built (basic auth, impersonation, insecure), and the combinations kubectl
 * refuses. The credentials against a real server: test/integration/kube-kubeconfig.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeAuth } from '../../appliance/reconcile/kube-auth.js';
import { parseKubeconfig } from '../../appliance/reconcile/kubeconfig.js';
import { loadYaml } from '../../src/yaml-load.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-kubeconfig-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const doc = (cluster: string, user: string) =>
  loadYaml(`current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u, namespace: team}\nclusters:\n- name: k\n  cluster: ${cluster}\nusers:\n- name: u\n  user: ${user}\n`).value;
const parse = (cluster: string, user: string) => parseKubeconfig(doc(cluster, user), join(dir ?? '/tmp', 'sub', 'kubeconfig'));
const server = '{server: "https://api.example:6443/"}';
const auth = (cluster: string, user: string) => new KubeAuth(parse(cluster, user), { env: {}, timeoutMs: 1000, ttlMs: 10_000 }).options();

describe('kubeconfig loading', () => {
  it('resolves relative files against the kubeconfig directory; an exec command only when it is a path', () => {
    const k = parse('{server: "https://api.example:6443/", certificate-authority: ca.crt}', '{tokenFile: ../token, client-certificate: /abs/c.crt, client-key: k.key, exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./bin/plugin}}');
    expect(k.cluster.server).toBe('https://api.example:6443');
    expect(k.namespace).toBe('team');
    expect(k.cluster.ca).toEqual({ file: join(dir, 'sub', 'ca.crt') });
    expect(k.user.tokenFile).toBe(join(dir, 'token'));
    expect(k.user.cert).toEqual({ file: '/abs/c.crt' });
    expect(k.user.key).toEqual({ file: join(dir, 'sub', 'k.key') });
    expect(k.user.exec?.command).toBe(join(dir, 'sub', 'bin', 'plugin'));
    expect(parse(server, '{exec: {apiVersion: client.authentication.k8s.io/v1, command: aws}}').user.exec?.command).toBe('aws');
  });

  it('inline data wins over a file (the file is not read)', async () => {
    const opts = await auth(`{server: "https://a:1", certificate-authority: missing.crt, certificate-authority-data: ${Buffer.from('PEM').toString('base64')}}`, '{token: t}');
    expect(opts.ca?.toString()).toBe('PEM');
    expect(opts.rejectUnauthorized).toBe(true);
  });

  it('builds basic auth, impersonation and insecure options', async () => {
    const opts = await auth('{server: "https://a:1", insecure-skip-tls-verify: true, tls-server-name: kubernetes}', '{username: ann, password: "s3cret", as: bob, as-groups: [g1, g2], as-user-extra: {"scopes/x": [a]}}');
    expect(opts.rejectUnauthorized).toBe(false);
    expect(opts.servername).toBe('kubernetes');
    expect(opts.headers).toEqual({
      authorization: `Basic ${Buffer.from('ann:s3cret').toString('base64')}`,
      'impersonate-user': 'bob',
      'impersonate-group': ['g1', 'g2'],
      'impersonate-extra-scopes%2fx': 'a',
    });
  });

  it('re-reads a token file only after the TTL', async () => {
    await writeFile(join(dir, 'rotating'), 'one\n');
    let now = 0;
    const a = new KubeAuth(parseKubeconfig(doc(server, `{tokenFile: ${join(dir, 'rotating')}}`), join(dir, 'kubeconfig')), { env: {}, timeoutMs: 1000, ttlMs: 10_000, now: () => now });
    expect((await a.options()).headers.authorization).toBe('Bearer one');
    await writeFile(join(dir, 'rotating'), 'two\n');
    now = 10_000;
    expect((await a.options()).headers.authorization).toBe('Bearer one');
    now = 10_001;
    expect((await a.options()).headers.authorization).toBe('Bearer two');
  });

  it('refuses what kubectl refuses', () => {
    expect(() => parse('{server: "https://a:1", insecure-skip-tls-verify: true, certificate-authority: ca.crt}', '{token: t}')).toThrow('insecure-skip-tls-verify together with a certificate authority');
    expect(() => parse(server, '{token: t, username: a, password: b}')).toThrow('username/password and a token cannot be given together');
    expect(() => parse(server, '{client-certificate: c.crt}')).toThrow('a client certificate needs its key');
    expect(() => parse(server, '{exec: {apiVersion: client.authentication.k8s.io/v1}}')).toThrow('users[u].user.exec.command is missing');
  });
});
