/**
 * The network under the registry client, on node:http(s) (Node 20's global fetch reads no proxy settings and takes
 * no CA): proxies from the environment (CONNECT tunnels for https, absolute-URI requests for plain HTTP), extra
 * trusted CAs (`--cacert`, added to the system roots), `--insecure` (no certificate verification), keep-alive
 * connections. `fetch` answers with a WHATWG Response so the client reads the same way whatever sends it.
 */
import { type ClientRequest, type IncomingMessage, Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, type RequestOptions as HttpsRequestOptions, request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { connect as tlsConnect, rootCertificates } from 'node:tls';
import { AirlockError } from '../errors.js';
import { type ProxySettings, proxyFor } from './proxy.js';

export interface TransportOptions {
  /** PEM certificates trusted in addition to the system roots. */
  ca?: (string | Buffer)[];
  /** Skip certificate verification (`--insecure`). */
  insecure?: boolean;
  proxy?: ProxySettings;
}

export interface NodeRequestInit {
  method: string;
  headers: Record<string, string>;
}

const MAX_REDIRECTS = 10;

export class RegistryTransport {
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  private readonly httpsAgents = new Map<string, HttpsAgent>();
  private readonly tls: { ca?: (string | Buffer)[]; rejectUnauthorized: boolean };

  constructor(private readonly opts: TransportOptions = {}) {
    this.tls = { ...(opts.ca?.length ? { ca: [...rootCertificates, ...opts.ca] } : {}), rejectUnauthorized: !opts.insecure };
  }

  get insecure(): boolean {
    return this.opts.insecure === true;
  }

  /** Whether requests to `url` go through a proxy, and which. */
  proxyFor(url: URL): URL | undefined {
    return this.opts.proxy ? proxyFor(url, this.opts.proxy) : undefined;
  }

  /** A node:http(s) request to `url` through the right agent (and proxy); the caller writes the body. */
  request(url: URL, init: NodeRequestInit, onResponse: (res: IncomingMessage) => void): ClientRequest {
    const proxy = this.proxyFor(url);
    if (url.protocol === 'https:') {
      const options: HttpsRequestOptions = { method: init.method, headers: init.headers, agent: this.httpsAgent(proxy), ...this.tls };
      return httpsRequest(url, options, onResponse);
    }
    if (proxy) {
      // Plain HTTP through a proxy: the absolute URI goes to the proxy (RFC 9112 §3.2.2).
      return httpRequest(
        { host: proxy.hostname, port: proxy.port || 80, method: init.method, path: url.href, headers: { ...init.headers, host: url.host, ...proxyAuthorization(proxy) }, agent: this.httpAgent },
        onResponse,
      );
    }
    return httpRequest(url, { method: init.method, headers: init.headers, agent: this.httpAgent }, onResponse);
  }

  /** `fetch` on this transport: string or URL input, buffered or async-iterable bodies, redirects followed. */
  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    if (typeof input !== 'string' && !(input instanceof URL)) throw new TypeError('the registry transport takes a URL, not a Request');
    let url = new URL(String(input));
    let method = (init.method ?? 'GET').toUpperCase();
    let headers = headerRecord(init.headers);
    let body = init.body as Uint8Array | string | AsyncIterable<Uint8Array> | null | undefined;
    for (let hop = 0; ; hop++) {
      const res = await this.send(url, method, headers, body);
      const location = res.headers.location;
      const status = res.statusCode ?? 0;
      if (!location || ![301, 302, 303, 307, 308].includes(status) || init.redirect === 'manual') return toResponse(res, method);
      res.resume();
      if (init.redirect === 'error') throw new TypeError(`redirect to ${location} refused`);
      if (hop >= MAX_REDIRECTS) throw new TypeError(`more than ${MAX_REDIRECTS} redirects from ${String(input)}`);
      const next = new URL(location, url);
      if (next.origin !== url.origin) headers = withoutAuthorization(headers);
      if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
        method = method === 'HEAD' ? 'HEAD' : 'GET';
        body = undefined;
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^content-/i.test(k)));
      } else if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
        throw new TypeError(`cannot follow a ${status} redirect with a streamed body`);
      }
      url = next;
    }
  };

  private send(url: URL, method: string, headers: Record<string, string>, body: Uint8Array | string | AsyncIterable<Uint8Array> | null | undefined): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const sized = typeof body === 'string' ? Buffer.from(body) : body instanceof Uint8Array ? body : undefined;
      const all = { ...headers, ...(sized && !hasHeader(headers, 'content-length') ? { 'content-length': String(sized.length) } : {}) };
      const req = this.request(url, { method, headers: all }, resolve);
      req.on('error', reject);
      if (body === undefined || body === null) req.end();
      else if (sized) req.end(sized);
      else pipeline(Readable.from(body), req).catch(reject);
    });
  }

  private httpsAgent(proxy: URL | undefined): HttpsAgent {
    const key = proxy?.href ?? '';
    let agent = this.httpsAgents.get(key);
    if (!agent) {
      agent = proxy ? new TunnelAgent(proxy, { keepAlive: true, ...this.tls }) : new HttpsAgent({ keepAlive: true, ...this.tls });
      this.httpsAgents.set(key, agent);
    }
    return agent;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.httpAgent.destroy();
    for (const agent of this.httpsAgents.values()) agent.destroy();
  }
}

/** An https agent whose connections are TLS inside a CONNECT tunnel through an HTTP(S) proxy. */
class TunnelAgent extends HttpsAgent {
  constructor(private readonly proxy: URL, options: ConstructorParameters<typeof HttpsAgent>[0]) {
    super(options);
  }

  override createConnection(options: HttpsRequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const done = callback ?? (() => undefined);
    const host = options.host ?? options.hostname ?? 'localhost';
    const authority = `${host.includes(':') ? `[${host}]` : host}:${options.port ?? 443}`;
    const proxy = this.proxy;
    const send = proxy.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send({
      host: proxy.hostname,
      port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80),
      method: 'CONNECT',
      path: authority,
      headers: { host: authority, ...proxyAuthorization(proxy) },
      agent: false,
    });
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        done(new AirlockError('REGISTRY_UNREACHABLE', `the proxy ${proxy.host} refused a tunnel to ${authority} (${res.statusCode ?? 0} ${res.statusMessage ?? ''})`.trim()), undefined as unknown as Duplex);
        return;
      }
      const { ca, rejectUnauthorized, servername } = options;
      done(null, tlsConnect({ socket, servername: servername || host, ...(ca ? { ca } : {}), ...(rejectUnauthorized === false ? { rejectUnauthorized } : {}) }));
    });
    req.once('error', (err) => {
      done(new AirlockError('REGISTRY_UNREACHABLE', `cannot reach the proxy ${proxy.host} (${(err as NodeJS.ErrnoException).code ?? err.message})`, { cause: err }), undefined as unknown as Duplex);
    });
    req.end();
    return undefined;
  }
}

function proxyAuthorization(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  const user = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(user).toString('base64')}` };
}

function toResponse(res: IncomingMessage, method: string): Response {
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i] ?? '', res.rawHeaders[i + 1] ?? '');
  const status = res.statusCode ?? 0;
  const empty = method === 'HEAD' || status === 204 || status === 304;
  if (empty) res.resume();
  const body = empty ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
  return new Response(body as unknown as WebReadableStream<Uint8Array> & BodyInit, { status, statusText: res.statusMessage ?? '', headers });
}

function headerRecord(init: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(init).forEach((value, key) => (out[key] = value));
  return out;
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
}

/** TLS verification failures: not worth a retry, and the user has a fix (`--cacert`, `--insecure`). */
export function tlsProblem(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (TLS_CODES.has(code) || code.startsWith('ERR_TLS_CERT')) return `${code}: ${String(e.message)}`;
  }
  return undefined;
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
]);
