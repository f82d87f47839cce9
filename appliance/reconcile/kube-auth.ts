/**
 * A loaded kubeconfig's credentials and TLS settings as `node:https` request options: CA, client certificate and
 * key (files read, inline data decoded), `servername` from tls-server-name, `rejectUnauthorized` false only with
 * insecure-skip-tls-verify, and the Authorization header (token, token file, basic auth, or the exec plugin's
 * token and certificate), plus impersonation headers. Worked out again every `ttlMs` (not per request: reading and
 * decoding the files cost more CPU than a request), so a rotated token file or exec credential is picked up. ADR 023.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { AirlockError } from '../../src/errors.js';
import { ExecCredentials } from './exec-credential.js';
import type { KubeConfigData, Material } from './kubeconfig.js';

export interface AuthOptions {
  ca?: Buffer;
  cert?: Buffer | string;
  key?: Buffer | string;
  servername?: string;
  rejectUnauthorized: boolean;
  headers: Record<string, string | string[]>;
}

export interface AuthDeps {
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  ttlMs: number;
  now?: () => number;
}

async function read(m: Material | undefined, what: string): Promise<Buffer | undefined> {
  if (!m) return undefined;
  if ('data' in m) return m.data;
  try {
    return await readFile(m.file);
  } catch (err) {
    throw new AirlockError('KUBE_UNREACHABLE', `the ${what} file ${m.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

export class KubeAuth {
  readonly exec: ExecCredentials | undefined;
  private cached: { opts: AuthOptions; at: number } | undefined;

  constructor(
    readonly config: KubeConfigData,
    private readonly deps: AuthDeps,
  ) {
    const { user, cluster } = config;
    const caData = () => {
      const ca = cluster.ca;
      if (!ca) return undefined;
      if ('data' in ca) return ca.data;
      try {
        return readFileSync(ca.file);
      } catch {
        return undefined;
      }
    };
    this.exec = user.exec ? new ExecCredentials(user.exec, cluster, caData, deps) : undefined;
  }

  /** The options in force (worked out again when older than ttlMs, or once the exec credential they hold expires). */
  async options(): Promise<AuthOptions> {
    const now = (this.deps.now ?? Date.now)();
    const stale = !this.cached || now - this.cached.at > this.deps.ttlMs || (this.exec !== undefined && now >= this.exec.until);
    if (stale) {
      this.building ??= this.build().finally(() => (this.building = undefined));
      this.cached = { opts: await this.building, at: now };
    }
    return (this.cached as { opts: AuthOptions }).opts;
  }

  private building: Promise<AuthOptions> | undefined;

  private async build(): Promise<AuthOptions> {
    const { cluster, user } = this.config;
    const headers: Record<string, string | string[]> = {};
    const opts: AuthOptions = { rejectUnauthorized: !cluster.insecureSkipTlsVerify, headers };
    const ca = await read(cluster.ca, 'certificate-authority');
    if (ca) opts.ca = ca;
    if (cluster.tlsServerName) opts.servername = cluster.tlsServerName;
    const cert = await read(user.cert, 'client-certificate');
    const key = await read(user.key, 'client-key');
    if (cert && key) Object.assign(opts, { cert, key });
    if (user.token) headers.authorization = `Bearer ${user.token}`;
    else if (user.tokenFile) {
      const token = ((await read({ file: user.tokenFile }, 'token')) ?? Buffer.alloc(0)).toString('utf8').trim();
      if (!token) throw new AirlockError('KUBE_UNREACHABLE', `the token file ${user.tokenFile} is empty`);
      headers.authorization = `Bearer ${token}`;
    } else if (user.username !== undefined) headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
    if (this.exec) {
      const got = await this.exec.get();
      if (got.cert && got.key) Object.assign(opts, { cert: got.cert, key: got.key });
      if (got.token) headers.authorization = `Bearer ${got.token}`;
    }
    for (const [name, value] of user.impersonate) {
      const key = name.toLowerCase();
      const before = headers[key];
      headers[key] = before === undefined ? value : [...(Array.isArray(before) ? before : [before]), value];
    }
    return opts;
  }
}
