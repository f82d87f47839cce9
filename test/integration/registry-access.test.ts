/**
 * Registry access as skopeo users have it, with real parts: a docker-registry serving HTTPS with a certificate made
 * by openssl (`--cacert`, `--insecure`, per-registry `cacert` in the spec), a CONNECT proxy on loopback
 * (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, loopback never proxied), and a Docker credential helper on PATH in
 * front of an htpasswd registry (`credHelpers`, `credsStore`, a helper that fails, one that is missing).
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { type ConnectProxy, startConnectProxy } from '../helpers/connect-proxy.js';
import { run } from '../helpers/exec.js';
import { skopeoDigest, tagLayout, writeImage, writeLayer } from '../helpers/images.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';
import { type TestCa, type TlsRegistry, makeCa, startTlsRegistry } from '../helpers/tls-registry.js';

const NAME = 'registry.airlock.test'; // only the proxy resolves it
const PLAIN_NAME = 'plain.airlock.test';
const user = { name: 'ship', password: 'at-sea-42' };

let work: string;
let ca: TestCa;
let otherCa: TestCa;
let tls: TlsRegistry;
let locked: TestRegistry;
let open: TestRegistry;
let proxy: ConnectProxy;
let digest: string;
let bin: string;

const k = (name: string) => join(work, name);

async function spec(file: string, images: string[], registries = ''): Promise<string> {
  const path = k(file);
  await writeFile(path, `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: access\ndiscoverImages: false\nimages:\n${images.map((i) => `  - ${i}\n`).join('')}${registries ? `registries:\n${registries}` : ''}`);
  return path;
}

async function create(specPath: string, out: string, args: string[] = [], env: Record<string, string> = {}) {
  return cli(['bundle', 'create', '-f', specPath, '--key', k('release.key'), '-o', k(out), '--sequence', '1', '--json', ...args], { env });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-access-'));
  [ca, otherCa] = await Promise.all([makeCa([NAME]), makeCa([NAME])]);
  [tls, locked, open] = await Promise.all([startTlsRegistry(ca), startRegistry({ user }), startRegistry()]);
  proxy = await startConnectProxy({ [NAME]: '127.0.0.1', [PLAIN_NAME]: '127.0.0.1' });
  const layout = k('layout');
  await tagLayout(layout, await writeImage(layout, [await writeLayer(layout, 30_000)]), 'app');
  // skopeo, trusting the test CA through its cert dir, seeds the TLS registry: a client users have
  const certDir = k('certs.d');
  await mkdir(certDir);
  await copyFile(ca.caPem, join(certDir, 'ca.crt'));
  await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-cert-dir', certDir, `oci:${layout}:app`, `docker://${tls.host}/team/app:1.0`]);
  await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `${user.name}:${user.password}`, `oci:${layout}:app`, `docker://${locked.host}/team/app:1.0`]);
  await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:app`, `docker://${open.host}/team/app:1.0`]);
  const raw = await run('skopeo', ['inspect', '--raw', '--cert-dir', certDir, `docker://${tls.host}/team/app:1.0`]);
  digest = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
  expect(await skopeoDigest(`${open.host}/team/app:1.0`)).toBe(digest);
  expect((await cli(['keys', 'generate', '--out', k('release')])).code).toBe(0);

  bin = k('bin');
  await mkdir(bin);
  const helper = (name: string, body: string) => writeFile(join(bin, `docker-credential-${name}`), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  await helper(
    'airlocktest',
    `host=$(cat)\necho "$1 $host" >> ${k('helper.log')}\nif [ "$1" = get ] && [ "$host" = "${locked.host}" ]; then\n  printf '{"ServerURL":"%s","Username":"${user.name}","Secret":"${user.password}"}\\n' "$host"\n  exit 0\nfi\necho "credentials not found in native keychain"\nexit 1`,
  );
  await helper('airlockbroken', 'cat >/dev/null\necho "the keychain is locked" >&2\nexit 3');
  await chmod(join(bin, 'docker-credential-airlocktest'), 0o755);
});

afterAll(async () => {
  await Promise.all([tls?.stop(), locked?.stop(), open?.stop(), proxy?.stop()]);
  await Promise.all([ca, otherCa].map((c) => c && rm(c.dir, { recursive: true, force: true })));
});

describe('TLS: --cacert, --insecure, registries.HOST.cacert', () => {
  const https = () => `  "${tls.host}": { plainHttp: false }\n`;

  it('refuses a registry whose certificate it does not trust, naming the problem and the fix, and writes nothing', async () => {
    const s = await spec('untrusted.yaml', [`${tls.host}/team/app:1.0`], https());
    const r = await create(s, 'untrusted.airlock');
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(new RegExp(`TLS certificate of registry ${tls.host.replace(/\./g, '\\.')} is not trusted \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE`));
    expect(r.stderr + r.stdout).toContain('--cacert FILE');
    const wrong = await create(s, 'untrusted.airlock', ['--cacert', otherCa.caPem]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr + wrong.stdout).toContain('is not trusted');
    expect((await readdir(work)).filter((f) => f.startsWith('untrusted.airlock') || f.startsWith('.airlock-build-'))).toEqual([]);
  });

  it('pulls with --cacert: the bundle holds the digest skopeo sees', async () => {
    const r = await create(await spec('cacert.yaml', [`${tls.host}/team/app:1.0`], https()), 'cacert.airlock', ['--cacert', ca.caPem]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(digest);
  });

  it('pulls with --insecure (no verification)', async () => {
    const r = await create(await spec('insecure.yaml', [`${tls.host}/team/app:1.0`], https()), 'insecure.airlock', ['--insecure']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(digest);
  });

  it('pulls with the spec\'s per-registry cacert (relative to the spec), which also means HTTPS on loopback', async () => {
    await copyFile(ca.caPem, k('site-ca.pem'));
    const r = await create(await spec('spec-ca.yaml', [`${tls.host}/team/app:1.0`], `  "${tls.host}": { cacert: ./site-ca.pem }\n`), 'spec-ca.airlock');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(digest);
    const missing = await create(await spec('spec-ca-missing.yaml', [`${tls.host}/team/app:1.0`], `  "${tls.host}": { cacert: ./nope.pem }\n`), 'spec-ca-missing.airlock');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr + missing.stdout).toContain(`registries."${tls.host}".cacert ./nope.pem: cannot read the CA file (ENOENT)`);
  });
});

describe('proxies: HTTPS_PROXY, HTTP_PROXY, NO_PROXY', () => {
  it('tunnels HTTPS through HTTPS_PROXY (a name only the proxy resolves), with the proxy URL\'s credentials', async () => {
    const before = proxy.tunnels.length;
    const ref = `${NAME}:${tls.port}/team/app:1.0`;
    const withUser = proxy.url.replace('http://', 'http://scout:p%40ss@');
    const r = await create(await spec('proxied.yaml', [ref]), 'proxied.airlock', ['--cacert', ca.caPem], { HTTPS_PROXY: withUser, NO_PROXY: 'example.com' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(digest);
    expect(proxy.tunnels.slice(before).length).toBeGreaterThan(0);
    expect(new Set(proxy.tunnels.slice(before))).toEqual(new Set([`${NAME}:${tls.port}`]));
    expect(new Set(proxy.authorizations)).toEqual(new Set([`Basic ${Buffer.from('scout:p@ss').toString('base64')}`]));
  });

  it('sends plain HTTP through HTTP_PROXY as absolute URIs', async () => {
    const before = proxy.forwarded.length;
    const host = `${PLAIN_NAME}:${open.host.split(':')[1]}`;
    const r = await create(await spec('proxied-plain.yaml', [`${host}/team/app:1.0`], `  "${host}": { plainHttp: true }\n`), 'proxied-plain.airlock', [], { http_proxy: proxy.url });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(digest);
    expect(proxy.forwarded.slice(before).some((u) => u.startsWith(`http://${host}/v2/team/app/manifests/1.0`))).toBe(true);
  });

  it('goes direct for a NO_PROXY host (here: unresolvable without the proxy) and never proxies loopback', async () => {
    const before = proxy.tunnels.length;
    const r = await create(await spec('bypassed.yaml', [`${NAME}:${tls.port}/team/app:1.0`]), 'bypassed.airlock', ['--cacert', ca.caPem], {
      HTTPS_PROXY: proxy.url,
      NO_PROXY: `localhost,.airlock.test`,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(new RegExp(`cannot reach registry ${NAME}:${tls.port} \\((ENOTFOUND|EAI_AGAIN)\\)`));
    // 127.0.0.1 with HTTPS_PROXY set and no NO_PROXY: direct, as skopeo (Go) does
    const direct = await create(await spec('loopback.yaml', [`${tls.host}/team/app:1.0`], `  "${tls.host}": { plainHttp: false }\n`), 'loopback.airlock', ['--cacert', ca.caPem], { HTTPS_PROXY: proxy.url });
    expect(direct.code, direct.stderr).toBe(0);
    expect(proxy.tunnels.length).toBe(before);
  });

  it('says which proxy refused or could not be reached', async () => {
    const r = await create(await spec('dead-proxy.yaml', [`${NAME}:${tls.port}/team/app:1.0`]), 'dead-proxy.airlock', ['--cacert', ca.caPem], { HTTPS_PROXY: 'http://127.0.0.1:9' });
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toContain('cannot reach the proxy 127.0.0.1:9 (ECONNREFUSED)');
  });
});

describe('Docker credential helpers', () => {
  async function dockerConfig(name: string, config: object): Promise<Record<string, string>> {
    const dir = k(`docker-${name}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    return { DOCKER_CONFIG: dir, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` };
  }

  it('runs the credHelpers entry of the registry (host on stdin) and pulls from an htpasswd registry', async () => {
    await rm(k('helper.log'), { force: true });
    const env = await dockerConfig('helpers', { credHelpers: { [locked.host]: 'airlocktest' } });
    const r = await create(await spec('helper.yaml', [`${locked.host}/team/app:1.0`]), 'helper.airlock', [], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(digest);
    expect((await readFile(k('helper.log'), 'utf8')).trim().split('\n')).toEqual([`get ${locked.host}`]); // once per registry
  });

  it('runs credsStore for a registry without its own entry; inline auths still work', async () => {
    const store = await create(await spec('store.yaml', [`${locked.host}/team/app:1.0`]), 'store.airlock', [], await dockerConfig('store', { credsStore: 'airlocktest' }));
    expect(store.code, store.stderr).toBe(0);
    const inline = await dockerConfig('inline', { auths: { [locked.host]: { auth: Buffer.from(`${user.name}:${user.password}`).toString('base64') } }, credsStore: 'airlockbroken' });
    const r = await create(await spec('inline.yaml', [`${locked.host}/team/app:1.0`]), 'inline.airlock', [], inline);
    expect(r.code, r.stderr).toBe(0);
  });

  it('reports a failing helper and a missing one by name', async () => {
    const broken = await create(await spec('broken.yaml', [`${locked.host}/team/app:1.0`]), 'broken.airlock', [], await dockerConfig('broken', { credHelpers: { [locked.host]: 'airlockbroken' } }));
    expect(broken.code).not.toBe(0);
    expect(broken.stderr + broken.stdout).toContain(`the credential helper docker-credential-airlockbroken failed for ${locked.host}: it exited 3: the keychain is locked`);
    const missing = await create(await spec('missing.yaml', [`${locked.host}/team/app:1.0`]), 'missing.airlock', [], await dockerConfig('missing', { credsStore: 'airlockmissing' }));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr + missing.stdout).toContain('docker-credential-airlockmissing failed');
    expect(missing.stderr + missing.stdout).toContain('not installed or not on PATH');
  });

  it('treats "credentials not found" as anonymous: the registry then refuses with the usual advice', async () => {
    const env = await dockerConfig('notfound', { credHelpers: { [open.host]: 'airlocktest', [locked.host]: 'airlocktest' } });
    const anonymous = await create(await spec('anon.yaml', [`${open.host}/team/app:1.0`]), 'anon.airlock', [], env);
    expect(anonymous.code, anonymous.stderr).toBe(0); // the open registry never asks
    await writeFile(join(bin, 'docker-credential-airlocktest'), '#!/bin/sh\ncat >/dev/null\necho "credentials not found in native keychain"\nexit 1\n', { mode: 0o755 });
    try {
      const r = await create(await spec('refused.yaml', [`${locked.host}/team/app:1.0`]), 'refused.airlock', [], env);
      expect(r.code).not.toBe(0);
      expect(r.stderr + r.stdout).toContain(`docker login ${locked.host}`);
    } finally {
      await writeFile(join(bin, 'docker-credential-airlocktest'), `#!/bin/sh\nhost=$(cat)\nprintf '{"ServerURL":"%s","Username":"${user.name}","Secret":"${user.password}"}\\n' "$host"\n`, { mode: 0o755 });
    }
  });
});
