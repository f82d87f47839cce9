/**
 * A counting (and, on request, failing) reverse proxy in front of a real docker-registry, on loopback. It logs
 * every request (method, path, status, request and response body bytes), so tests can count uploads, mounts and
 * bytes fetched and check the order of requests, independently of what airlock itself reports. Faults on request:
 * a status instead of the registry's answer, a response cut off after N bytes (the connection dropped), or one
 * that stops sending after N bytes while the connection stays open (a stall).
 */
import { type Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoggedRequest {
  method: string;
  url: string;
  status: number;
  bodyBytes: number;
  /** Response body bytes sent to the client. */
  responseBytes: number;
  /** The request's Range header, if any. */
  range?: string;
}

export interface CountingProxy {
  host: string;
  log: LoggedRequest[];
  /** Answer 500 to matching requests instead of forwarding them. */
  fail?: (method: string, url: string) => boolean;
  /** Answer this status (e.g. 503) instead of forwarding, when it returns one. */
  failWith?: (method: string, url: string) => number | undefined;
  /** Drop the connection after this many response body bytes, when it returns a number. */
  cutAfter?: (method: string, url: string) => number | undefined;
  /** Stop sending after this many response body bytes, keeping the connection open, when it returns a number. */
  stallAfter?: (method: string, url: string) => number | undefined;
  /** Pace responses to this many bytes per second (a link slower than the client), when it returns a number. */
  rate?: (method: string, url: string) => number | undefined;
  /** Forward without the Range header (the registry then answers 200 with the whole blob), when it returns true. */
  dropRange?: (method: string, url: string) => boolean;
  stop(): Promise<void>;
}

export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const [upHost = '127.0.0.1', upPort = '80'] = upstream.split(':');
  const proxy: CountingProxy = { host: '', log: [], stop: async () => undefined };
  const server: Server = createServer((req, res) => {
    const entry: LoggedRequest = { method: req.method ?? '', url: req.url ?? '', status: 0, bodyBytes: 0, responseBytes: 0, ...(req.headers.range ? { range: req.headers.range } : {}) };
    proxy.log.push(entry);
    req.on('data', (chunk: Buffer) => (entry.bodyBytes += chunk.length));
    const injected = proxy.fail?.(entry.method, entry.url) ? 500 : proxy.failWith?.(entry.method, entry.url);
    if (injected) {
      req.resume();
      req.on('end', () => {
        entry.status = injected;
        res.writeHead(injected, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN","message":"injected by the test"}]}');
      });
      return;
    }
    const cut = proxy.cutAfter?.(entry.method, entry.url);
    const stall = proxy.stallAfter?.(entry.method, entry.url);
    const headers = { ...req.headers };
    if (proxy.dropRange?.(entry.method, entry.url)) delete headers.range;
    const up = request({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers }, (upRes) => {
      entry.status = upRes.statusCode ?? 0;
      res.writeHead(entry.status, upRes.headers);
      const rate = proxy.rate?.(entry.method, entry.url);
      if (cut === undefined && stall === undefined && rate === undefined) {
        upRes.on('data', (chunk: Buffer) => (entry.responseBytes += chunk.length));
        upRes.pipe(res);
        return;
      }
      // Shaped: written with backpressure (so what is counted has left the proxy), paced to `rate`, cut or stalled.
      const limit = cut ?? stall ?? Number.POSITIVE_INFINITY;
      const started = Date.now();
      upRes.on('data', (chunk: Buffer) => {
        const room = limit - entry.responseBytes;
        if (room <= 0) return;
        const part = chunk.subarray(0, room);
        entry.responseBytes += part.length;
        const flowing = res.write(part);
        if (entry.responseBytes >= limit) {
          if (cut !== undefined) {
            upRes.destroy();
            res.destroy(); // the link drops
          } else {
            upRes.pause(); // a stall: nothing more, the connection stays open
          }
          return;
        }
        const wait = rate ? (entry.responseBytes / rate) * 1000 - (Date.now() - started) : 0;
        if (flowing && wait < 1) return;
        upRes.pause();
        const go = () => setTimeout(() => upRes.resume(), Math.max(0, wait));
        if (flowing) go();
        else res.once('drain', go);
      });
      upRes.on('error', () => res.destroy());
      upRes.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return proxy;
}

/** Blob digests uploaded (the PUT that completes an upload carries `digest=`). */
export function uploadedDigests(log: LoggedRequest[]): string[] {
  return log
    .filter((r) => r.method === 'PUT' && r.url.includes('/blobs/uploads/') && r.status === 201)
    .map((r) => decodeURIComponent(/[?&]digest=([^&]+)/.exec(r.url)?.[1] ?? ''));
}

/** Blob digests mounted from another repository (POST …?mount= answered 201). */
export function mountedDigests(log: LoggedRequest[]): string[] {
  return log
    .filter((r) => r.method === 'POST' && r.url.includes('mount=') && r.status === 201)
    .map((r) => decodeURIComponent(/[?&]mount=([^&]+)/.exec(r.url)?.[1] ?? ''));
}
