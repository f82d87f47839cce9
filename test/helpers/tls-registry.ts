/**
 * A test CA and a server certificate made with openssl, and a real docker-registry serving HTTPS with it
 * (`http.tls.certificate/key` in its config), optionally behind htpasswd Basic auth. Loopback only.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './exec.js';
import { type TestRegistry, startRegistry } from './registry.js';

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

export interface TlsRegistry extends TestRegistry {
  port: number;
}

export async function startTlsRegistry(ca: TestCa, { user }: { user?: { name: string; password: string } } = {}): Promise<TlsRegistry> {
  const registry = await startRegistry({ tls: { cert: ca.cert, key: ca.key }, ...(user ? { user } : {}) });
  return { ...registry, port: Number(registry.host.split(':')[1]) };
}
