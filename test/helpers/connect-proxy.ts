/**
 * A small forward proxy on 127.0.0.1 that opens CONNECT tunnels (https) and forwards absolute-URI requests (plain
 * HTTP), and records both. It resolves names from its own
 * table (`registry.airlock.test` → 127.0.0.1), as a site proxy resolves names its clients cannot: a request that
 * reaches such a name went through the proxy.
 */
import { type Server, createServer, request } from 'node:http';
import { type Socket, connect } from 'node:net';

export interface ConnectProxy {
  url: string;
  /** `host:port` of every tunnel asked for, in order. */
  tunnels: string[];
  /** Absolute URLs of plain-HTTP requests forwarded, in order. */
  forwarded: string[];
  /** Proxy-Authorization headers received. */
  authorizations: string[];
  stop(): Promise<void>;
}

export async function startConnectProxy(hosts: Record<string, string> = {}): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const forwarded: string[] = [];
  const authorizations: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    if (!req.url?.startsWith('http://')) {
      res.writeHead(400).end('a proxy takes absolute URIs\n');
      return;
    }
    forwarded.push(req.url);
    if (req.headers['proxy-authorization']) authorizations.push(req.headers['proxy-authorization']);
    const target = new URL(req.url);
    const { 'proxy-authorization': _auth, ...headers } = req.headers;
    const upstream = request(
      { host: hosts[target.hostname] ?? target.hostname, port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    const target = req.url ?? '';
    tunnels.push(target);
    if (req.headers['proxy-authorization']) authorizations.push(req.headers['proxy-authorization']);
    const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(target);
    const host = m?.[1] ?? '';
    const upstream = connect({ host: hosts[host] ?? host, port: Number(m?.[2]) });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    forwarded,
    authorizations,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
