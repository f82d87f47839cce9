/**
 * The cluster as the reconciler sees it: @kubernetes/client-node 1.x loads the kubeconfig (or the in-cluster
 * service account), authenticates and discovers each kind's resource (plural, scope); objects travel as raw JSON
 * (server-side apply with field manager `airlock`, dry run, force; reads; deletes), because the library's typed
 * serializer drops fields it does not model by their wire names (`x-kubernetes-*`). Every API failure becomes an
 * AirlockError with the server's own message.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, type RequestOptions, request as httpsRequest } from 'node:https';
import { ApiException, KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { AirlockError } from '../../src/errors.js';
import type { KubeObject } from '../../src/manifests/documents.js';
import type { ClusterApi, LiveObject, ResourceInfo } from '../../src/kube/cluster-api.js';

export const FIELD_MANAGER = 'airlock';
/** How long the credentials worked out from the kubeconfig are reused before they are worked out again. */
const AUTH_TTL_MS = 10_000;

/** KubernetesObjectApi with its discovery made visible and its cache resettable (new CRDs). */
class ObjectApi extends KubernetesObjectApi {
  discover(apiVersion: string, kind: string) {
    return this.resource(apiVersion, kind);
  }
  forget(apiVersion: string): void {
    delete this.apiVersionResourceCache[apiVersion];
  }
  path(spec: KubeObject, action: 'patch' | 'read' | 'delete'): Promise<string> {
    return this.specUriPath(structuredClone(spec) as KubernetesObject, action);
  }
}

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
  private readonly api: ObjectApi;
  /** Object requests sent (discovery, cached by the library, is not counted): reads are GETs, writes the rest. */
  readonly requests = { read: 0, write: 0 };

  constructor(
    readonly kubeConfig: KubeConfig,
    readonly server: string,
    /** How long one request may take before it counts as failed (a hung API server must not hold a loop forever). */
    private readonly timeoutMs = 30_000,
  ) {
    this.api = kubeConfig.makeApiClient(ObjectApi);
  }

  /** `--kubeconfig FILE`, else the in-cluster service account, else undefined (no reconciling). */
  static connect(kubeconfigPath: string | undefined, env: NodeJS.ProcessEnv = process.env, timeoutMs?: number): Cluster | undefined {
    const kc = new KubeConfig();
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else return undefined;
    const server = kc.getCurrentCluster()?.server ?? 'unknown';
    return new Cluster(kc, server, timeoutMs);
  }

  async resource(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    try {
      const r = await withTimeout(this.api.discover(apiVersion, kind), this.timeoutMs, `discovering ${kind} (${apiVersion})`);
      return r ? { plural: r.name, namespaced: r.namespaced } : undefined;
    } catch (err) {
      // an API group that is not served (yet) is an unknown kind, not an outage
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw apiError(err, `discovering ${kind} (${apiVersion})`);
    }
  }

  /** Drops what discovery learned of `apiVersion` (after a CRD is established). */
  forget(apiVersion: string): void {
    this.api.forget(apiVersion);
  }

  async apply(object: KubeObject, { dryRun = false, force = false } = {}): Promise<LiveObject> {
    const what = `${dryRun ? 'dry-run apply of' : 'applying'} ${describe(object)}`;
    const query = new URLSearchParams({ fieldManager: FIELD_MANAGER, ...(force ? { force: 'true' } : {}), ...(dryRun ? { dryRun: 'All' } : {}) });
    const path = await this.path(object, 'patch', what);
    return (await this.send('PATCH', `${path}?${query}`, what, JSON.stringify(object), 'application/apply-patch+yaml')) as LiveObject;
  }

  async get(object: KubeObject): Promise<LiveObject | undefined> {
    const what = `reading ${describe(object)}`;
    const path = await this.path(object, 'read', what);
    try {
      return (await this.send('GET', path, what)) as LiveObject;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async delete(object: KubeObject): Promise<void> {
    const what = `deleting ${describe(object)}`;
    const path = await this.path(object, 'delete', what);
    try {
      await this.send('DELETE', `${path}?propagationPolicy=Background`, what);
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  private async path(object: KubeObject, action: 'patch' | 'read' | 'delete', what: string): Promise<string> {
    try {
      return await this.api.path(object, action);
    } catch (err) {
      throw apiError(err, what);
    }
  }

  private agent: HttpAgent | undefined;

  /** One keep-alive agent for every request, with the TLS settings the kubeconfig gives (a handshake per request is slow). */
  private agentFor(opts: RequestOptions, https: boolean): HttpAgent {
    if (!this.agent) {
      const given = (opts.agent as HttpsAgent | undefined)?.options ?? {};
      this.agent = https ? new HttpsAgent({ ...given, keepAlive: true, maxSockets: 16 }) : new HttpAgent({ keepAlive: true, maxSockets: 16 });
    }
    return this.agent;
  }

  /** Closes idle connections (the process can then exit). */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  private auth: { opts: RequestOptions; at: number } | undefined;

  /**
   * The kubeconfig's credentials and TLS settings as request options, worked out again every AUTH_TTL_MS: the
   * library reads the CA and key files and decodes the certificates on each call, which cost more CPU than the
   * request itself when 1,000 objects are applied; a rotated token or exec credential is still picked up.
   */
  private async authOptions(): Promise<RequestOptions> {
    const now = Date.now();
    if (!this.auth || now - this.auth.at > AUTH_TTL_MS) {
      const opts: RequestOptions = { headers: {} };
      await this.kubeConfig.applyToHTTPSOptions(opts);
      this.auth = { opts, at: now };
    }
    return this.auth.opts;
  }

  /** One request with the kubeconfig's credentials and TLS settings; JSON in and out. */
  private async send(method: string, path: string, what: string, body?: string, contentType?: string): Promise<unknown> {
    if (method === 'GET') this.requests.read++;
    else this.requests.write++;
    const url = new URL(path, this.server.endsWith('/') ? this.server : `${this.server}/`);
    // Always a Content-Length: a chunked body leaves the API server's side of a kept-alive connection unusable.
    const length = body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) };
    const auth = await this.authOptions();
    const opts: RequestOptions = { ...auth, method, headers: { ...(auth.headers as Record<string, string>), accept: 'application/json', ...(contentType ? { 'content-type': contentType } : {}), ...length }, timeout: this.timeoutMs };
    opts.agent = this.agentFor(auth, url.protocol === 'https:');
    const prefix = new URL(this.server).pathname.replace(/\/+$/, '');
    try {
      const text = await new Promise<string>((resolve, reject) => {
        const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)({ ...opts, hostname: url.hostname, port: url.port, path: `${prefix}${url.pathname}${url.search}` }, (res) => {
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
    } catch (err) {
      throw apiError(err, what);
    }
  }
}

/** Discovery goes through the library, which sets no timeout of its own: a hung API server must not hold it forever. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new AirlockError('KUBE_UNREACHABLE', `${what}: no answer within ${Math.round(ms / 1000)} s`)), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

function describe(o: KubeObject): string {
  return `${o.kind ?? '?'} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name ?? '?'}`;
}

/** The status code of a failed API call (0 when the server could not be reached). */
export function statusOf(err: unknown): number {
  const cause = (err as { cause?: unknown })?.cause;
  if (cause instanceof ApiException) return cause.code;
  return cause instanceof HttpError ? cause.status : 0;
}

function apiError(err: unknown, what: string): AirlockError {
  const status = err instanceof ApiException ? err.code : err instanceof HttpError ? err.status : undefined;
  if (status !== undefined) {
    const raw = String(err instanceof ApiException ? (err.body ?? err.message) : (err as HttpError).body);
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
