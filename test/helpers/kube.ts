/**
 * A real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager (1.20, built from
 * Debian's sources by test/setup/kube-build.sh and cached), on 127.0.0.1 with free ports, per test file. The
 * API server can be stopped and started again on the same port and etcd (for outage tests).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec, run } from './exec.js';
import { freePort } from './registry.js';

export interface TestCluster {
  /** `https://127.0.0.1:PORT` */
  server: string;
  token: string;
  kubeconfig: string;
  dir: string;
  /** The API server's self-signed serving certificate and its CA (PEM, written by it under --cert-dir). */
  servingCert: string;
  stopApiServer(): Promise<void>;
  startApiServer(): Promise<void>;
  /** Freezes the API server (SIGSTOP): connections stay open and nothing answers, as with a hung server. */
  pauseApiServer(): void;
  /** Thaws it (SIGCONT). */
  resumeApiServer(): void;
  /** Runs the cluster's own kubectl-free checks through the API with the admin token. */
  request(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/** test/setup/kube-build.sh, found from here whether this file runs from source or from dist/. */
const BUILD_SCRIPT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return join(dir, 'test', 'setup', 'kube-build.sh');
})();

/** The cached binaries' directory (builds them on a cold machine; about 8 to 12 minutes). */
export async function kubeBinaries(): Promise<string> {
  return (await run('bash', [BUILD_SCRIPT])).trim().split('\n').pop() ?? '';
}

/** Whether the binaries are built and cached already (nothing is built). */
export async function kubeCached(): Promise<boolean> {
  return (await exec('bash', [BUILD_SCRIPT, '--check'])).code === 0;
}

function started(child: ChildProcess, name: string, log: () => string): void {
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGKILL') process.stderr.write(`${name} exited ${code ?? signal}: ${log().slice(-2000)}\n`);
  });
}

function spawnLogged(cmd: string, args: string[]): { child: ChildProcess; log: () => string } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, log: () => out };
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts a control plane. The ports are picked free, but another process on a busy machine can take one between
 * the pick and the bind: then every process is stopped and the start is tried again on fresh ports.
 */
export async function startCluster(opts: { clientCaFile?: string } = {}): Promise<TestCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOnce(opts);
    } catch (err) {
      if (attempt >= 4 || !/address already in use/.test(String(err))) throw err;
    }
  }
}

/** `clientCaFile`: client certificates it signed authenticate too (`--client-ca-file`). */
async function startClusterOnce(opts: { clientCaFile?: string }): Promise<TestCluster> {
  const bin = await kubeBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'airlock-kube-'));
  const [etcdPort, peerPort, apiPort, cmPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const token = randomBytes(16).toString('hex');
  await run('openssl', ['genrsa', '-out', join(dir, 'sa.key'), '2048']);
  await run('openssl', ['rsa', '-in', join(dir, 'sa.key'), '-pubout', '-out', join(dir, 'sa.pub')]);
  await writeFile(join(dir, 'tokens.csv'), `${token},admin,admin,"system:masters"\n`);
  const server = `https://127.0.0.1:${apiPort}`;
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: ${server}\n    insecure-skip-tls-verify: true\nusers:\n- name: admin\n  user:\n    token: ${token}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: admin\ncurrent-context: test\n`,
  );

  const etcd = spawnLogged('etcd', [
    '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdPort}`,
    '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `default=http://127.0.0.1:${peerPort}`,
    '--name', 'default',
    '--log-level', 'error',
  ]);
  started(etcd.child, 'etcd', etcd.log);

  let api: ReturnType<typeof spawnLogged> | undefined;
  const apiArgs = [
    '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`, `--cert-dir=${join(dir, 'certs')}`,
    `--etcd-servers=http://127.0.0.1:${etcdPort}`, '--service-cluster-ip-range=10.0.0.0/24',
    '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`, '--api-audiences=https://kubernetes.default.svc',
    `--token-auth-file=${join(dir, 'tokens.csv')}`, '--authorization-mode=RBAC', '--disable-admission-plugins=ServiceAccount',
    '--endpoint-reconciler-type=none', '--v=0',
    ...(opts.clientCaFile ? [`--client-ca-file=${opts.clientCaFile}`] : []),
  ];
  // The test server's certificate is self-signed: these requests (only these) skip its verification.
  const request = (path: string, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      const body = typeof init.body === 'string' ? init.body : undefined;
      const req = httpsRequest(
        `${server}${path}`,
        {
          method: init.method ?? 'GET',
          rejectUnauthorized: false,
          headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined), ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0 })));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const startApiServer = async () => {
    api = spawnLogged(join(bin, 'kube-apiserver'), apiArgs);
    started(api.child, 'kube-apiserver', api.log);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (api.child.exitCode !== null) throw new Error(`kube-apiserver exited: ${api.log().slice(-3000)}`);
      if (etcd.child.exitCode !== null) throw new Error(`etcd exited: ${etcd.log().slice(-3000)}`);
      const ok = await request('/readyz').then((r) => r.status === 200, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`kube-apiserver not ready: ${api.log().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  try {
    await startApiServer();
  } catch (err) {
    // A server that never got ready (a loaded machine): stop what was started, leave no etcd behind.
    await stopChild(api?.child);
    await stopChild(etcd.child);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const cm = spawnLogged(join(bin, 'kube-controller-manager'), [
    `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1', `--secure-port=${cmPort}`, '--port=0', '--leader-elect=false',
    `--service-account-private-key-file=${join(dir, 'sa.key')}`,
    '--controllers=namespace,garbagecollector,serviceaccount,serviceaccount-token,deployment,replicaset,statefulset,daemonset,job,cronjob,endpoint,disruption,podgc',
  ]);
  started(cm.child, 'kube-controller-manager', cm.log);

  return {
    server,
    token,
    kubeconfig,
    dir,
    servingCert: join(dir, 'certs', 'apiserver.crt'),
    request,
    stopApiServer: () => stopChild(api?.child),
    pauseApiServer: () => void api?.child.kill('SIGSTOP'),
    resumeApiServer: () => void api?.child.kill('SIGCONT'),
    startApiServer,
    async stop() {
      await stopChild(cm.child);
      await stopChild(api?.child);
      await stopChild(etcd.child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
