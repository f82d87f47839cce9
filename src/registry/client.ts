/**
 * HTTP access to one registry host speaking the OCI distribution API: scheme selection (HTTPS, or plain HTTP for
 * loopback unless told otherwise), the transport's proxy and TLS settings, Bearer-token and Basic authentication driven by `WWW-Authenticate` challenges, retries
 * with backoff for idempotent requests, and errors that name the registry and what to do.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AirlockError } from '../errors.js';
import { apiHost, isLoopbackHost } from '../reference.js';
import { parseChallenge } from './challenge.js';
import type { Credential, CredentialLookup } from './credentials.js';
import { RegistryTransport, tlsProblem } from './transport.js';

export type FetchFn = typeof fetch;

export interface RegistryClientOptions {
  /** Registry name as it appears in references: `docker.io`, `127.0.0.1:5000`. */
  registry: string;
  /** true: plain HTTP; false: HTTPS. Unset: plain HTTP for loopback hosts, HTTPS for the rest. */
  plainHttp?: boolean;
  credentials?: CredentialLookup;
  /** Proxy and TLS settings (default: Node's fetch, direct connections, the system's CAs). */
  transport?: RegistryTransport;
  /** Replaces the transport's fetch (tests count or break requests with it). */
  fetch?: FetchFn;
  sleep?: (ms: number) => Promise<void>;
  /** Attempts for idempotent requests on network errors, 429 and 5xx. */
  attempts?: number;
  userAgent?: string;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Uint8Array | string | AsyncIterable<Uint8Array>;
  /** Token scopes, e.g. `repository:team/app:pull`. */
  scopes: string[];
  /** Statuses the caller handles itself; anything else outside 2xx becomes an error. */
  accept?: number[];
  /** Describes the request in errors: "image 127.0.0.1:5000/app:1.0". */
  what: string;
  redirect?: RequestRedirect;
}

const sleepDefault = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: string;
  private readonly lookup: CredentialLookup | undefined;
  private credential: Promise<Credential | undefined> | undefined;
  private basicCredential: Credential | undefined;
  private readonly transport: RegistryTransport;
  private readonly fetchFn: FetchFn;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly attempts: number;
  private readonly userAgent: string;
  private readonly tokens = new Map<string, string>();

  constructor({ registry, plainHttp, credentials, transport, fetch: fetchFn, sleep = sleepDefault, attempts = 4, userAgent = 'airlock/0.1' }: RegistryClientOptions) {
    this.registry = registry;
    const host = apiHost(registry);
    const scheme = (plainHttp ?? isLoopbackHost(host)) ? 'http' : 'https';
    this.baseUrl = `${scheme}://${host}`;
    this.lookup = credentials;
    this.transport = transport ?? new RegistryTransport();
    // Without a transport: Node's fetch, looked up per call (direct connections, the system's CAs).
    this.fetchFn = fetchFn ?? (transport ? transport.fetch : (input, init) => globalThis.fetch(input, init));
    this.sleep = sleep;
    this.attempts = attempts;
    this.userAgent = userAgent;
  }

  /** Sends a request, authenticating on challenge. Retries idempotent ones (no body) on transient failures. */
  async request(method: string, pathOrUrl: string, opts: RequestOptions): Promise<Response> {
    const idempotent = opts.body === undefined && (method === 'GET' || method === 'HEAD');
    const attempts = idempotent ? this.attempts : 1;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const res = await this.authenticated(method, pathOrUrl, opts);
        if ((res.status === 429 || res.status >= 500) && attempt < attempts && !opts.accept?.includes(res.status)) {
          await res.body?.cancel();
          await this.sleep(backoff(attempt));
          continue;
        }
        return await this.check(res, opts);
      } catch (err) {
        if (err instanceof AirlockError) throw err;
        const tls = tlsProblem(err);
        if (tls) throw this.untrusted(opts.what, tls, err);
        lastError = err;
        if (attempt < attempts) await this.sleep(backoff(attempt));
      }
    }
    throw new AirlockError('REGISTRY_UNREACHABLE', `${opts.what}: cannot reach registry ${this.registry} (${networkReason(lastError)})`, { cause: lastError });
  }

  /** A certificate the client does not trust: say which problem, and the two ways out. */
  private untrusted(what: string, problem: string, cause: unknown): AirlockError {
    return new AirlockError(
      'REGISTRY_UNREACHABLE',
      `${what}: the TLS certificate of registry ${this.registry} is not trusted (${problem}); give its CA with --cacert FILE ` +
        `(or registries."${this.registry}".cacert in the spec), or skip verification with --insecure`,
      { cause },
    );
  }

  /** The credentials for this registry, asked for once (a credential helper may run). */
  private credentials(): Promise<Credential | undefined> {
    this.credential ??= Promise.resolve(this.lookup?.(this.registry));
    return this.credential;
  }

  private async authenticated(method: string, pathOrUrl: string, opts: RequestOptions): Promise<Response> {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${this.baseUrl}${pathOrUrl}`;
    const send = () => this.send(method, url, opts);
    const res = await send();
    if (res.status !== 401) return res;
    const header = res.headers.get('www-authenticate');
    await res.body?.cancel();
    if (!header) return res;
    const challenge = parseChallenge(header);
    if (challenge?.scheme === 'bearer') {
      await this.fetchToken(challenge.params, opts);
    } else if (challenge?.scheme === 'basic') {
      const credential = await this.credentials();
      if (!credential) return res;
      this.basicCredential = credential;
    } else {
      return res;
    }
    if (isStreamBody(opts.body)) return res; // a streamed body cannot be sent twice; callers authenticate first
    return send();
  }

  /**
   * Sends a large body with node:http(s) and stream backpressure (fetch buffers async-iterable bodies it cannot
   * send yet). Authentication must already have happened for these scopes (e.g. by the upload's POST). Not retried.
   */
  async upload(method: string, url: string, opts: Omit<RequestOptions, 'body'>, body: Readable): Promise<{ status: number; headers: IncomingHttpHeaders }> {
    const target = new URL(url.startsWith('http') ? url : `${this.baseUrl}${url}`);
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...opts.headers, ...this.authHeader(opts.scopes) };
    let res: IncomingMessage;
    try {
      res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = this.transport.request(target, { method, headers }, resolve);
        req.on('error', reject);
        pipeline(body, req).catch(reject);
      });
    } catch (err) {
      if (err instanceof AirlockError) throw err;
      const tls = tlsProblem(err);
      if (tls) throw this.untrusted(opts.what, tls, err);
      throw new AirlockError('REGISTRY_UNREACHABLE', `${opts.what}: upload to ${this.registry} failed (${networkReason({ cause: err })})`, { cause: err });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const status = res.statusCode ?? 0;
    if ((status >= 200 && status < 300) || opts.accept?.includes(status)) return { status, headers: res.headers };
    throw this.failure(status, errorDetail(Buffer.concat(chunks).toString('utf8')), opts.what);
  }

  private authHeader(scopes: string[]): Record<string, string> {
    const token = this.tokens.get(scopeKey(scopes));
    if (token) return { authorization: `Bearer ${token}` };
    if (this.basicCredential) return { authorization: basicHeader(this.basicCredential) };
    return {};
  }

  private send(method: string, url: string, opts: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...opts.headers, ...this.authHeader(opts.scopes) };
    const init: RequestInit & { duplex?: 'half' } = { method, headers, redirect: opts.redirect ?? 'follow' };
    if (opts.body !== undefined) {
      init.body = opts.body as BodyInit;
      if (isStreamBody(opts.body)) init.duplex = 'half';
    }
    return this.fetchFn(url, init);
  }

  private async fetchToken(params: Record<string, string>, opts: RequestOptions): Promise<void> {
    const realm = params.realm;
    if (!realm) throw new AirlockError('REGISTRY_UNAUTHORIZED', `${opts.what}: registry ${this.registry} sent a Bearer challenge without a realm`);
    const url = new URL(realm);
    if (params.service) url.searchParams.set('service', params.service);
    const scopes = opts.scopes.length ? opts.scopes : params.scope ? [params.scope] : [];
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    const credential = await this.credentials();
    if (credential) headers.authorization = basicHeader(credential);
    let res: Response;
    try {
      res = await this.fetchFn(url, { headers });
    } catch (err) {
      const tls = tlsProblem(err);
      if (tls) throw this.untrusted(opts.what, tls, err);
      throw new AirlockError('REGISTRY_UNREACHABLE', `${opts.what}: cannot reach the token service ${url.origin} (${networkReason(err)})`, { cause: err });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw unauthorized(opts.what, this.registry, `the token service answered ${res.status}`);
    }
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw unauthorized(opts.what, this.registry, 'the token service returned no token');
    this.tokens.set(scopeKey(opts.scopes), token);
  }

  private async check(res: Response, opts: RequestOptions): Promise<Response> {
    if (res.ok || opts.accept?.includes(res.status)) return res;
    throw this.failure(res.status, errorDetail(await res.text().catch(() => '')), opts.what);
  }

  /** The error for an unexpected status, with the registry's own explanation when it sent one. */
  private failure(status: number, detail: string, what: string): AirlockError {
    if (status === 400 && detail.startsWith('DIGEST_INVALID')) {
      return new AirlockError('DIGEST_MISMATCH', `${what}: the registry found that the content does not match its digest (${detail})`);
    }
    if (status === 401 || status === 403) return unauthorized(what, this.registry, `${status}${detail ? `: ${detail}` : ''}`);
    if (status === 404) return new AirlockError('NOT_FOUND', `${what}: not found on ${this.registry}${detail ? ` (${detail})` : ''}`);
    return new AirlockError('REGISTRY_ERROR', `${what}: registry ${this.registry} answered ${status}${detail ? `: ${detail}` : ''}`);
  }
}

function unauthorized(what: string, registry: string, why: string): AirlockError {
  return new AirlockError(
    'REGISTRY_UNAUTHORIZED',
    `${what}: registry ${registry} refused access (${why}); log in with \`docker login ${registry}\` or check the credentials in your Docker config.json`,
  );
}

/** The codes and messages of an OCI error body, or nothing. */
function errorDetail(text: string): string {
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    return (body.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(' ')).join('; ');
  } catch {
    return '';
  }
}

function networkReason(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
  const cause = e?.cause;
  if (cause) return cause.code ?? cause.message ?? e?.message ?? 'unknown error';
  return e?.code ?? e?.message ?? 'unknown error';
}

function basicHeader(c: Credential): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

function scopeKey(scopes: string[]): string {
  return [...scopes].sort().join(' ');
}

function backoff(attempt: number): number {
  return Math.min(200 * 2 ** (attempt - 1), 5000) + Math.floor(Math.random() * 100);
}

function isStreamBody(body: unknown): boolean {
  return body !== undefined && body !== null && typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}
