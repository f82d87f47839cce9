/**
 * An exec credential plugin (`user.exec` of a kubeconfig) run as kubectl runs it: the command with its args, the
 * process environment plus the plugin's `env` list, `KUBERNETES_EXEC_INFO` holding an ExecCredential with
 * `spec.interactive: false` (and `spec.cluster` with provideClusterInfo), no stdin. Its output is an ExecCredential
 * of the same apiVersion whose `status` gives a token, or a client certificate and key (PEM), or both. The credential
 * is reused until its `status.expirationTimestamp`; one without is run again after `ttlMs`. A plugin that fails, hangs
 * or prints something else is an error naming the command and what it wrote to stderr. ADR 023.
 */
import { spawn } from 'node:child_process';
import { AirlockError } from '../../src/errors.js';
import type { ExecConfig, KubeCluster } from './kubeconfig.js';

export interface ExecCredential {
  token?: string;
  cert?: string;
  key?: string;
}

export interface ExecDeps {
  env: NodeJS.ProcessEnv;
  /** How long a plugin may run. */
  timeoutMs: number;
  /** How long a credential without an expiry is reused. */
  ttlMs: number;
  now?: () => number;
}

function failure(exec: ExecConfig, message: string, stderr = ''): AirlockError {
  const err = stderr.trim() ? `: ${stderr.trim().slice(-2000)}` : '';
  return new AirlockError('KUBE_UNREACHABLE', `the exec credential plugin ${exec.command} ${message}${err}`);
}

/** Runs one plugin, caching what it gives; `cluster` is passed on when the plugin asks for it (provideClusterInfo). */
export class ExecCredentials {
  private cached: { credential: ExecCredential; until: number } | undefined;
  private running: Promise<ExecCredential> | undefined;
  /** How many times the plugin was run (for tests and logs). */
  runs = 0;

  constructor(
    private readonly exec: ExecConfig,
    private readonly cluster: KubeCluster,
    private readonly caData: () => Buffer | undefined,
    private readonly deps: ExecDeps,
  ) {}

  /** When the credential in hand stops being used (0 before the first run). */
  get until(): number {
    return this.cached?.until ?? 0;
  }

  async get(): Promise<ExecCredential> {
    const now = (this.deps.now ?? Date.now)();
    if (this.cached && now < this.cached.until) return this.cached.credential;
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private execInfo(): string {
    const spec: Record<string, unknown> = { interactive: false };
    if (this.exec.provideClusterInfo) {
      const ca = this.caData();
      spec.cluster = {
        server: this.cluster.server,
        ...(this.cluster.tlsServerName ? { 'tls-server-name': this.cluster.tlsServerName } : {}),
        ...(this.cluster.insecureSkipTlsVerify ? { 'insecure-skip-tls-verify': true } : {}),
        ...(ca ? { 'certificate-authority-data': ca.toString('base64') } : {}),
      };
    }
    return JSON.stringify({ apiVersion: this.exec.apiVersion, kind: 'ExecCredential', spec });
  }

  private async run(): Promise<ExecCredential> {
    this.runs++;
    const env: NodeJS.ProcessEnv = { ...this.deps.env, KUBERNETES_EXEC_INFO: this.execInfo() };
    for (const { name, value } of this.exec.env) env[name] = value;
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | string }>((resolve, reject) => {
      const child = spawn(this.exec.command, this.exec.args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-8000)));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(failure(this.exec, `gave no credential within ${Math.round(this.deps.timeoutMs / 1000)} s`, err));
      }, this.deps.timeoutMs);
      timer.unref();
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(failure(this.exec, `cannot be run (${e.code ?? e.message}${e.code === 'ENOENT' ? ': is it installed, and on PATH?' : ''})`));
      });
      child.on('close', (c, signal) => {
        clearTimeout(timer);
        resolve({ stdout: out, stderr: err, code: c ?? signal ?? 'unknown' });
      });
    });
    if (code !== 0) throw failure(this.exec, `failed (exit ${code})`, stderr);
    let parsed: unknown;
    try {
      parsed = JSON.parse(stdout);
    } catch {
      throw failure(this.exec, 'printed no ExecCredential JSON', stderr);
    }
    const cred = parsed as { apiVersion?: unknown; kind?: unknown; status?: Record<string, unknown> };
    if (cred?.kind !== 'ExecCredential') throw failure(this.exec, `printed a ${String(cred?.kind ?? 'document')}, not an ExecCredential`);
    if (cred.apiVersion !== this.exec.apiVersion) throw failure(this.exec, `is configured for ${this.exec.apiVersion} but printed ${String(cred.apiVersion)}`);
    const status = cred.status ?? {};
    const pick = (k: string) => (typeof status[k] === 'string' && status[k] ? (status[k] as string) : undefined);
    const credential: ExecCredential = { token: pick('token'), cert: pick('clientCertificateData'), key: pick('clientKeyData') };
    if (!credential.cert !== !credential.key) throw failure(this.exec, 'printed a client certificate without its key, or a key without its certificate');
    if (!credential.token && !credential.cert) throw failure(this.exec, 'printed no status.token and no status.clientCertificateData/clientKeyData');
    const now = (this.deps.now ?? Date.now)();
    const expiry = pick('expirationTimestamp');
    const until = expiry ? Date.parse(expiry) : now + this.deps.ttlMs;
    if (expiry && Number.isNaN(until)) throw failure(this.exec, `printed an expirationTimestamp that is no time (${expiry})`);
    this.cached = { credential, until };
    return credential;
  }
}
