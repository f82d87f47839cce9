/**
 * A test CA and a server certificate made with openssl, and a real docker-registry serving HTTPS with it
 * (`http.tls.certificate/key` in its config), optionally behind htpasswd Basic auth. Loopback only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './exec.js';
import { freePort } from './registry.js';

export interface TestCa {
  dir: string;
  /** The CA certificate (PEM): what --cacert takes. */
  caPem: string;
  /** The server's certificate and key, valid for 127.0.0.1 and each of `names`. */
  cert: string;
  key: string;
}

export async function makeCa(names: string[] = []): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-ca-'));
  const p = (f: string) => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=airlock test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run('openssl', ['req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=airlock test registry']);
  const san = ['IP:127.0.0.1', ...names.map((n) => `DNS:${n}`)].join(',');
  await writeFile(p('ext.cnf'), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.pem'), '-days', '2', '-extfile', p('ext.cnf')]);
  return { dir, caPem: p('ca.pem'), cert: p('server.pem'), key: p('server.key') };
}

export interface TlsRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  storage: string;
  stop(): Promise<void>;
}

export async function startTlsRegistry(ca: TestCa, { user }: { user?: { name: string; password: string } } = {}): Promise<TlsRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-tls-registry-'));
  const storage = join(dir, 'storage');
  const port = await freePort();
  let auth = '';
  if (user) {
    await run('htpasswd', ['-Bbc', join(dir, 'htpasswd'), user.name, user.password]);
    auth = `auth:\n  htpasswd:\n    realm: airlock-test\n    path: ${join(dir, 'htpasswd')}\n`;
  }
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\n` +
      `http:\n  addr: 127.0.0.1:${port}\n  tls:\n    certificate: ${ca.cert}\n    key: ${ca.key}\n${auth}`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    if ((await probe(port)) !== undefined) break;
    if (Date.now() > deadline) throw new Error(`docker-registry (TLS) did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    storage,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The status of GET /v2/ over TLS (not verified: this only waits for the server), or undefined. */
function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/v2/', rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(undefined));
    req.end();
  });
}
