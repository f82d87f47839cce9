/**
 * `airlock appliance serve` as a real process reaching other servers the way the bundler does: `--registry` over
 * HTTPS with `--registry-cacert`, through `HTTPS_PROXY`, with credentials from a Docker credential helper, into a
 * real docker-registry behind htpasswd; and `KUBECONFIG` (when `--kubeconfig` is not given) naming a real
 * kube-apiserver that the appliance then reconciles.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Site, importPath, makeSite } from '../helpers/appliance-fixture.js';
import { BINARY } from '../helpers/cli.js';
import { type ConnectProxy, startConnectProxy } from '../helpers/connect-proxy.js';
import { exec, run } from '../helpers/exec.js';
import { type TestCluster, startCluster } from '../helpers/kube.js';
import { freePort } from '../helpers/registry.js';
import { type TestCa, type TlsRegistry, makeCa, startTlsRegistry } from '../helpers/tls-registry.js';

const NAME = 'registry.airlock.test';
const user = { name: 'site', password: 'pushes-42' };

let site: Site;
let ca: TestCa;
let tls: TlsRegistry;
let proxy: ConnectProxy;
let kube: TestCluster;
const running = new Set<ChildProcess>();

interface Served {
  url: string;
  token: () => Promise<string>;
  log: () => string;
  stop(): Promise<void>;
}

/** `airlock appliance serve` with extra arguments and environment, until it logs that it listens. */
async function serve(name: string, args: string[], env: Record<string, string>): Promise<Served> {
  const port = await freePort();
  const data = join(site.dir, `data-${name}`);
  const child = spawn(process.execPath, [BINARY, 'appliance', 'serve', '--data', data, '--trust', site.trustPath, '--listen', `127.0.0.1:${port}`, '--media', site.media, ...args], {
    env: { ...process.env, KUBECONFIG: '', ...env }, // a developer's own cluster stays out of it
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 20_000;
  while (!output.includes('appliance listening')) {
    if (child.exitCode !== null) throw new Error(`appliance exited: ${output}`);
    if (Date.now() > deadline) throw new Error(`appliance did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    token: async () => (await readFile(join(data, 'admin-token'), 'utf8')).trim(),
    log: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      running.delete(child);
    },
  };
}

beforeAll(async () => {
  site = await makeSite();
  ca = await makeCa([NAME]);
  [tls, proxy] = await Promise.all([startTlsRegistry(ca, { user }), startConnectProxy({ [NAME]: '127.0.0.1' })]);
});

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  await Promise.all([tls?.stop(), proxy?.stop(), kube?.stop()]);
});

describe('appliance serve --registry: TLS, proxy, credential helper', () => {
  it('pushes through HTTPS_PROXY to an HTTPS registry it trusts by --registry-cacert, with a credential helper\'s credentials', async () => {
    const bin = join(site.dir, 'bin');
    const docker = join(site.dir, 'docker');
    await Promise.all([mkdir(bin, { recursive: true }), mkdir(docker, { recursive: true })]);
    const registryHost = `${NAME}:${tls.port}`;
    await writeFile(join(bin, 'docker-credential-airlocktest'), `#!/bin/sh\nhost=$(cat)\necho "$host" >> ${join(site.dir, 'helper.log')}\nprintf '{"ServerURL":"%s","Username":"${user.name}","Secret":"${user.password}"}\\n' "$host"\n`, { mode: 0o755 });
    await writeFile(join(docker, 'config.json'), JSON.stringify({ credHelpers: { [registryHost]: 'airlocktest' } }));
    const env = { HTTPS_PROXY: proxy.url, DOCKER_CONFIG: docker, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` };
    await site.bundle({ sequence: 1, name: 'tls1' });

    const app = await serve('tls', ['--registry', `https://${registryHost}/site`, '--registry-cacert', ca.caPem], env);
    try {
      const record = await importPath(app.url, await app.token(), 'tls1.airlock');
      expect(record.error).toBeNull();
      expect(record.state).toBe('applied');
    } finally {
      await app.stop();
    }
    expect(proxy.tunnels.length).toBeGreaterThan(0);
    expect(new Set(proxy.tunnels)).toEqual(new Set([registryHost]));
    expect((await readFile(join(site.dir, 'helper.log'), 'utf8')).trim()).toBe(registryHost);
    // skopeo, trusting the CA and logging in directly, sees the image the appliance pushed
    const certDir = join(site.dir, 'certs.d');
    await mkdir(certDir, { recursive: true });
    await copyFile(ca.caPem, join(certDir, 'ca.crt'));
    const raw = await run('skopeo', ['inspect', '--raw', '--cert-dir', certDir, '--creds', `${user.name}:${user.password}`, `docker://${tls.host}/site/team/app:1.0`]);
    const indexBytes = await readFile(join(site.layout, 'index.json'), 'utf8');
    const tagged = (JSON.parse(indexBytes) as { manifests: { digest: string; annotations?: Record<string, string> }[] }).manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'team/app:1.0');
    expect(`sha256:${createHash('sha256').update(raw).digest('hex')}`).toBe(tagged?.digest);
  });

  it('without the CA, the import fails and says the certificate is not trusted', async () => {
    await site.bundle({ sequence: 2, name: 'tls2' });
    const app = await serve('untrusted', ['--registry', `https://${tls.host}/untrusted`], {});
    try {
      const record = await importPath(app.url, await app.token(), 'tls2.airlock');
      expect(record.state).toBe('failed');
      expect(record.error?.message).toContain(`TLS certificate of registry ${tls.host} is not trusted`);
    } finally {
      await app.stop();
    }
  });

  it('refuses --registry-cacert without --registry', async () => {
    const r = await exec(process.execPath, [BINARY, 'appliance', 'serve', '--data', join(site.dir, 'data-x'), '--trust', site.trustPath, '--registry-cacert', ca.caPem]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--registry-cacert and --registry-insecure apply to --registry');
  });
});

describe('appliance serve: KUBECONFIG', () => {
  it('reconciles the cluster the first existing file of KUBECONFIG names, when --kubeconfig is not given', async () => {
    kube = await startCluster();
    await site.bundle({ sequence: 3, name: 'kube3' });
    const app = await serve('kube', [], { KUBECONFIG: [join(site.dir, 'no-such-kubeconfig'), kube.kubeconfig].join(delimiter) });
    try {
      // logged right after "appliance listening", once the cluster is connected
      for (let i = 0; i < 200 && !app.log().includes('"msg":"reconciling"'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(app.log()).toContain('"msg":"reconciling"');
      expect(app.log()).toContain(kube.server);
      const record = await importPath(app.url, await app.token(), 'kube3.airlock');
      expect(record.state).toBe('applied');
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = (await kube.request('/api/v1/namespaces/default/configmaps/a')).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(200);
    } finally {
      await app.stop();
    }
  });

  it('stops with a clear error when KUBECONFIG names no file that exists', async () => {
    const r = await exec(process.execPath, [BINARY, 'appliance', 'serve', '--data', join(site.dir, 'data-y'), '--trust', site.trustPath, '--listen', '127.0.0.1:0'], {
      env: { KUBECONFIG: join(site.dir, 'missing-a') },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toContain('KUBECONFIG names no file that exists');
  });
});
