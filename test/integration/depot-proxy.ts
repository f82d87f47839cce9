/**
 * A counting (and, on request, failing) reverse proxy in front of a real docker-registry, on loopback. It logs
 * every request (method, path, status, request body bytes), so tests can count uploads and mounts and check the
 * order of a push, independently of what airlock itself reports.
 */
import { type Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoggedRequest {
  method: string;
  url: string;
  status: number;
  bodyBytes: number;
}

export interface CountingProxy {
  host: string;
  log: LoggedRequest[];
  /** Answer 500 to matching requests instead of forwarding them. */
  fail?: (method: string, url: string) => boolean;
  stop(): Promise<void>;
}

export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const [upHost = '127.0.0.1', upPort = '80'] = upstream.split(':');
  const proxy: CountingProxy = { host: '', log: [], stop: async () => undefined };
  const server: Server = createServer((req, res) => {
    const entry: LoggedRequest = { method: req.method ?? '', url: req.url ?? '', status: 0, bodyBytes: 0 };
    proxy.log.push(entry);
    req.on('data', (chunk: Buffer) => (entry.bodyBytes += chunk.length));
    if (proxy.fail?.(entry.method, entry.url)) {
      req.resume();
      req.on('end', () => {
        entry.status = 500;
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN","message":"injected by the test"}]}');
      });
      return;
    }
    const up = request({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      entry.status = upRes.statusCode ?? 0;
      res.writeHead(entry.status, upRes.headers);
      upRes.pipe(res);
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
