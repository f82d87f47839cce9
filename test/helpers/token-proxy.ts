/**
 * A Bearer-token front for a real registry, the way Docker Hub, GHCR and Harbor work: /v2 answers 401 with a
 * `WWW-Authenticate: Bearer realm=…` challenge until the client brings a token from /token, which wants Basic
 * credentials. Authorised requests are proxied to the registry unchanged.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';

export interface TokenProxy {
  host: string;
  tokenRequests: string[];
  /** Every request forwarded to the registry, as "METHOD /path". */
  requests: string[];
  stop(): Promise<void>;
}

/** With `user` undefined, no authentication: a counting pass-through. */
export async function startTokenProxy(upstream: string, user?: { name: string; password: string }): Promise<TokenProxy> {
  const tokenRequests: string[] = [];
  const requests: string[] = [];
  const upstreamUrl = new URL(upstream);
  let host = '';
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    if (url.pathname === '/token' && user) {
      const expected = `Basic ${Buffer.from(`${user.name}:${user.password}`).toString('base64')}`;
      tokenRequests.push(url.searchParams.getAll('scope').join(' '));
      if (req.headers.authorization !== expected) {
        res.writeHead(401).end('{"details":"bad credentials"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `tok:${url.searchParams.getAll('scope').join(' ')}` }));
      return;
    }
    const repo = /^\/v2\/(.+?)\/(blobs|manifests|tags)\//.exec(url.pathname)?.[1];
    const scope = repo ? `repository:${repo}:${req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'pull,push'}` : '';
    const auth = req.headers.authorization ?? '';
    const granted = !user || (auth.startsWith('Bearer tok:') && (!repo || auth.includes(`repository:${repo}:`)));
    if (!granted) {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://${host}/token",service="airlock-test"${scope ? `,scope="${scope}"` : ''}`,
        'content-type': 'application/json',
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    requests.push(`${req.method} ${url.pathname}`);
    const headers = { ...req.headers, host: upstreamUrl.host };
    delete headers.authorization;
    const up = request({ host: upstreamUrl.hostname, port: upstreamUrl.port, method: req.method, path: req.url, headers }, (upRes) => {
      const outHeaders = { ...upRes.headers };
      if (typeof outHeaders.location === 'string') outHeaders.location = outHeaders.location.replace(upstreamUrl.host, host);
      res.writeHead(upRes.statusCode ?? 502, outHeaders);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  host = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return { host, tokenRequests, requests, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}
