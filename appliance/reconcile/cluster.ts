/**
 * The cluster as the reconciler sees it: the kubeconfig (or the in-cluster service account) loaded by
 * kubeconfig.ts, its credentials as request options (kube-auth.ts), each kind's resource found by discovery
 * (discovery.ts) and its path built (kube-paths.ts); objects travel as raw JSON over `node:https` (server-side apply
 * with field manager `airlock`, dry run, force; reads; deletes), on one keep-alive agent. Every API failure becomes an
 * AirlockError with the server's own message. No Kubernetes client library: ADR 023.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, type RequestOptions, request as httpsRequest } from 'node:https';
import { AirlockError, errorMessage, isAirlockError } from '../../src/errors.js';
import type { KubeObject } from '../../src/manifests/documents.js';
import type { ClusterApi, LiveObject, ResourceInfo } from '../../src/kube/cluster-api.js';
import { Discovery } from './discovery.js';
import { KubeAuth } from './kube-auth.js';
import { type KubeConfigData, inClusterConfig, loadKubeconfig } from './kubeconfig.js';
import { objectPath } from './kube-paths.js';

export const FIELD_MANAGER = 'airlock';
/** How long the credentials worked out from the kubeconfig are reused before they are worked out again. */
export const AUTH_TTL_MS = 10_000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}`);
  }
}

export type { LiveObject, ResourceInfo } from '../../src/kube/cluster-api.js';

/** The real client of one cluster's API (see src/kube/cluster-api.ts). */
export class Cluster implements ClusterApi {
  /** Object requests sent (discovery, cached, is not counted): reads are GETs, writes the rest. */
  readonly requests = { read: 0, write: 0 };
  readonly server: string;
  /** The kubeconfig's credentials and TLS settings as request options. */
  readonly auth: KubeAuth;
  private readonly discovery: Discovery;

  constructor(
    /** The kubeconfig (or service account) loaded: what start-up checks. */
    readonly kubeConfig: KubeConfigData,
    /** How long one request may take before it counts as failed (a hung API server must not hold a loop forever). */
    private readonly timeoutMs = 30_000,
    env: NodeJS.ProcessEnv = process.env,
    /** The clock credentials expire by. */
    now: () => number = Date.now,
  ) {
    this.server = kubeConfig.cluster.server;
    this.auth = new KubeAuth(kubeConfig, { env, timeoutMs, ttlMs: AUTH_TTL_MS, now });
    this.discovery = new Discovery(async (path) => {
      try {
        return (await this.request('GET', path)) as { resources?: [] };
      } catch (err) {
        if (err instanceof HttpError && err.status === 404) return undefined; // a group not served (yet) is an unknown kind, not an outage
        throw err;
      }
    });
  }

  /**
   * `--kubeconfig FILE`, else the in-cluster service account, else undefined (no reconciling). A kubeconfig that
   * cannot be used (no context, unsupported fields) throws USAGE; the files it names are read by the first request
   * (or by `checkCredentials`).
   */
  static connect(kubeconfigPath: string | undefined, env: NodeJS.ProcessEnv = process.env, timeoutMs?: number, opts: { serviceAccountDir?: string; now?: () => number } = {}): Cluster | undefined {
    if (kubeconfigPath) return new Cluster(loadKubeconfig(kubeconfigPath), timeoutMs, env, opts.now);
    if (env.KUBERNETES_SERVICE_HOST) return new Cluster(inClusterConfig(env, opts.serviceAccountDir), timeoutMs, env, opts.now);
    return undefined;
  }

  /** Works the credentials out once (reads the CA, certificate, key and token files; runs an exec plugin): start-up's check. */
  async checkCredentials(): Promise<void> {
    await this.auth.options();
  }

  async resource(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    const what = `discovering ${kind} (${apiVersion})`;
    try {
      return await this.discovery.resource(apiVersion, kind);
    } catch (err) {
      throw wrap(err, what);
    }
  }

  /** Drops what discovery learned of `apiVersion` (after a CRD is established). */
  forget(apiVersion: string): void {
    this.discovery.forget(apiVersion);
  }

  async apply(object: KubeObject, { dryRun = false, force = false } = {}): Promise<LiveObject> {
    const what = `${dryRun ? 'dry-run apply of' : 'applying'} ${describe(object)}`;
    const query = new URLSearchParams({ fieldManager: FIELD_MANAGER, ...(force ? { force: 'true' } : {}), ...(dryRun ? { dryRun: 'All' } : {}) });
    const path = await this.path(object, what);
    return (await this.send('PATCH', `${path}?${query}`, what, JSON.stringify(object), 'application/apply-patch+yaml')) as LiveObject;
  }

  async get(object: KubeObject): Promise<LiveObject | undefined> {
    const what = `reading ${describe(object)}`;
    try {
      const path = await this.path(object, what);
      return (await this.send('GET', path, what)) as LiveObject;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async delete(object: KubeObject): Promise<void> {
    const what = `deleting ${describe(object)}`;
    try {
      const path = await this.path(object, what);
      await this.send('DELETE', `${path}?propagationPolicy=Background`, what);
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  /**
   * The object's path. A kind its apiVersion does not serve is KUBE_INVALID; when the whole group is not served (404),
   * the error keeps that status, so `get` answers undefined and `delete` has nothing to do, as with the library.
   */
  private async path(object: KubeObject, what: string): Promise<string> {
    if (!object.kind) throw new AirlockError('KUBE_INVALID', `${what}: the object has no kind`);
    const apiVersion = object.apiVersion || 'v1';
    const info = await this.discovery.resource(apiVersion, object.kind).catch((err: unknown) => {
      throw wrap(err, what);
    });
    if (!info) {
      const served = await this.discovery.served(apiVersion);
      throw new AirlockError('KUBE_INVALID', `${what}: the cluster serves no ${object.kind} in ${apiVersion}`, served ? undefined : { cause: new HttpError(404, '') });
    }
    try {
      return objectPath(object, info);
    } catch (err) {
      throw new AirlockError('KUBE_INVALID', `${what}: ${errorMessage(err)}`);
    }
  }

  private agent: HttpAgent | undefined;

  /**
   * One keep-alive agent for every request (a handshake per request is slow). The TLS options go with each request,
   * so new credentials (a rotated exec certificate) open new connections: the agent pools connections by them.
   */
  private agentFor(https: boolean): HttpAgent {
    this.agent ??= https ? new HttpsAgent({ keepAlive: true, maxSockets: 16 }) : new HttpAgent({ keepAlive: true, maxSockets: 16 });
    return this.agent;
  }

  /** Closes idle connections (the process can then exit). */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  /** One counted request; every failure an AirlockError naming `what`. */
  private async send(method: string, path: string, what: string, body?: string, contentType?: string): Promise<unknown> {
    if (method === 'GET') this.requests.read++;
    else this.requests.write++;
    try {
      return await this.request(method, path, body, contentType);
    } catch (err) {
      throw wrap(err, what);
    }
  }

  /** One request with the kubeconfig's credentials and TLS settings; JSON in and out; HttpError for a status >= 400. */
  private async request(method: string, path: string, body?: string, contentType?: string): Promise<unknown> {
    const url = new URL(path, this.server.endsWith('/') ? this.server : `${this.server}/`);
    const https = url.protocol === 'https:';
    // Always a Content-Length: a chunked body leaves the API server's side of a kept-alive connection unusable.
    const length = body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) };
    const prefix = new URL(this.server).pathname.replace(/\/+$/, '');
    const auth = await this.auth.options();
    const tls = https ? { ca: auth.ca, cert: auth.cert, key: auth.key, servername: auth.servername, rejectUnauthorized: auth.rejectUnauthorized } : {};
    const opts: RequestOptions = {
      ...tls,
      method,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port,
      path: `${prefix}${url.pathname}${url.search}`,
      headers: { ...auth.headers, accept: 'application/json', ...(contentType ? { 'content-type': contentType } : {}), ...length },
      timeout: this.timeoutMs,
      agent: this.agentFor(https),
    };
    const text = await new Promise<string>((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const out = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 400) reject(new HttpError(res.statusCode ?? 0, out));
          else resolve(out);
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timed out after ${Math.round(this.timeoutMs / 1000)} s`)));
      req.on('error', reject);
      req.end(body);
    });
    return text ? JSON.parse(text) : {};
  }
}

function describe(o: KubeObject): string {
  return `${o.kind ?? '?'} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name ?? '?'}`;
}

/** The status code of a failed API call (0 when the server could not be reached). */
export function statusOf(err: unknown): number {
  const cause = (err as { cause?: unknown })?.cause;
  return cause instanceof HttpError ? cause.status : 0;
}

/** An AirlockError (credentials that cannot be worked out) named by `what`; anything else through apiError. */
function wrap(err: unknown, what: string): AirlockError {
  return isAirlockError(err) ? new AirlockError(err.code, `${what}: ${err.message}`, { cause: err }) : apiError(err, what);
}

function apiError(err: unknown, what: string): AirlockError {
  if (err instanceof HttpError) {
    const status = err.status;
    const raw = err.body;
    let message = raw;
    try {
      message = (JSON.parse(raw) as { message?: string }).message ?? raw;
    } catch {
      // not JSON: keep the text
    }
    const code = status === 409 ? 'KUBE_CONFLICT' : status === 422 || status === 400 ? 'KUBE_INVALID' : 'KUBE_ERROR';
    return new AirlockError(code, `${what}: ${message}`, { cause: err });
  }
  return new AirlockError('KUBE_UNREACHABLE', `${what}: the API server cannot be reached (${(err as Error)?.message ?? String(err)})`, { cause: err });
}
