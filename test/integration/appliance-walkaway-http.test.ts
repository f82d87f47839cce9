/**
 * The HTTP server with nobody watching (issue 16 item 4, /healthz and /readyz; issue 17 item 9): raw sockets that
 * send headers or a body too slowly are answered 408 and closed, a slow upload that keeps sending is not cut, one
 * address cannot hold more than its share of connections while another client is still served; malformed cookies
 * and paths that are not valid percent-encoding get a clean 4xx in each area's own shape (JSON, OCI JSON, HTML
 * page), never a stack trace.
 */
import { type Socket, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Site, makeSite, start } from '../helpers/appliance-fixture.js';
import { curl } from './appliance-walkaway-helpers.js';

let site: Site;
let app: Awaited<ReturnType<typeof start>>;
let port: number;

beforeAll(async () => {
  site = await makeSite();
  app = await start(site, { limits: { headersTimeoutMs: 1000, bodyIdleMs: 1500, perClient: 50 } });
  port = app.port;
}, 60_000);

afterAll(async () => app?.close());

interface RawResult {
  data: string;
  closed: boolean;
}

/** Opens a raw connection, sends `first`, then waits until the server closes it (or `waitMs` passes). */
function raw(first: string, waitMs: number, localAddress = '127.0.0.1', serverPort = port): Promise<RawResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: serverPort, localAddress });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data, closed: false });
    }, waitMs);
    socket.on('connect', () => socket.write(first));
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data, closed: true });
    });
  });
}

describe('timeouts', () => {
  it('closes a connection whose headers never finish (slow loris) with a 408', async () => {
    const r = await raw('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', 20_000);
    expect(r.closed).toBe(true);
    expect(r.data).toContain('408');
  }, 30_000);

  for (const [route, head] of [
    ['/ui/login', 'POST /ui/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nname=a&password='],
    ['/api/v1/imports', 'POST /api/v1/imports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\nsome bytes'],
    ['/git', 'POST /git/platform.git/git-upload-pack HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-git-upload-pack-request\r\nContent-Length: 5000\r\n\r\n0032want '],
  ] as const) {
    it(`closes a stalled body to ${route}`, async () => {
      const r = await raw(head, 20_000);
      expect(r.closed, `${route}: the connection stayed open`).toBe(true);
    }, 30_000);
  }

  it('answers a stalled sign-in body 408 with JSON', async () => {
    const r = await raw('POST /ui/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\nname=', 20_000);
    expect(r.closed).toBe(true);
    expect(r.data).toMatch(/^HTTP\/1\.1 408/);
    expect(r.data).toContain('REQUEST_TIMEOUT');
  }, 30_000);

  it('does not cut a slow body that keeps sending', async () => {
    const body = `name=nobody&password=${'x'.repeat(90)}`;
    const pieces = body.match(/.{1,14}/g) ?? [];
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('error', reject);
      socket.on('close', () => resolve(data));
      socket.on('connect', async () => {
        socket.write(`POST /ui/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`);
        // each piece well within the idle limit, the whole body well beyond it
        for (const piece of pieces) {
          await new Promise((r) => setTimeout(r, 600));
          socket.write(piece);
        }
      });
    });
    expect(pieces.length * 600).toBeGreaterThan(3 * 1500);
    expect(answer).toMatch(/^HTTP\/1\.1 401/);
    expect(answer).toContain('Wrong name or password');
  }, 30_000);
});

describe('connections per client address', () => {
  let limited: Awaited<ReturnType<typeof start>>;
  const held: Socket[] = [];
  afterAll(async () => {
    for (const s of held) s.destroy();
    await limited?.close();
  });

  it('refuses connections over the limit from one address with a 503 while another address is served', async () => {
    limited = await start(site, { limits: { perClient: 4, headersTimeoutMs: 30_000 } });
    for (let i = 0; i < 4; i++) {
      const s = connect({ host: '127.0.0.1', port: limited.port });
      s.on('error', () => undefined);
      await new Promise((r) => s.once('connect', r));
      held.push(s);
    }
    const over = await raw('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 10_000, '127.0.0.1', limited.port);
    expect(over.closed).toBe(true);
    expect(over.data).toMatch(/^HTTP\/1\.1 503/);
    expect(over.data).toContain('TOO_MANY_CONNECTIONS');
    const other = await raw('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 10_000, '127.0.0.2', limited.port);
    expect(other.data).toMatch(/^HTTP\/1\.1 200/);
    // one held connection closes: the address is served again
    held.pop()?.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const again = await raw('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 10_000, '127.0.0.1', limited.port);
    expect(again.data).toMatch(/^HTTP\/1\.1 200/);
  }, 60_000);
});

describe('/healthz and /readyz', () => {
  it('answer without sign-in, in JSON', async () => {
    const health = await curl([`${app.url}/healthz`]);
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    const ready = await curl([`${app.url}/readyz`]);
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { state: 'ok', dataDir: 'ok', server: 'ok' } });
  });
});

describe('malformed requests get clean errors', () => {
  const leaks = /node_modules|\/work\/|\s+at [\w.<>]+ \(|URIError|<pre>/;

  it('a malformed session cookie is no session, not a 500', async () => {
    for (const cookie of ['airlock_session=%E0%A4%A', 'airlock_session="%zz', '=;;=x; airlock_session']) {
      const ui = await curl(['-H', `cookie: ${cookie}`, `${app.url}/ui/`]);
      expect(ui.status, cookie).toBe(303);
      const api = await curl(['-H', `cookie: ${cookie}`, `${app.url}/api/v1/status`]);
      expect(api.status, cookie).toBe(401);
      expect((api.body.error as { code: string }).code).toBe('UNAUTHORIZED');
      const login = await curl(['-H', `cookie: ${cookie}`, `${app.url}/ui/login`]);
      expect(login.status, cookie).toBe(200);
    }
  });

  it('a path that is not valid percent-encoding: JSON under /api and /git, OCI JSON under /v2, a page under /ui', async () => {
    const bad = '%E0%A4%A';
    const api = await curl(['-H', `authorization: Bearer ${app.token}`, `${app.url}/api/v1/imports/${bad}`]);
    expect(api.status).toBe(400);
    expect(api.body).toEqual({ error: { code: 'USAGE', message: 'the path is not valid percent-encoding' } });
    const git = await curl([`${app.url}/git/${bad}.git/info/refs?service=git-upload-pack`]);
    expect(git.status).toBe(400);
    expect((git.body.error as { code: string }).code).toBe('USAGE');
    const v2 = await curl([`${app.url}/v2/team/${bad}/manifests/${bad}`]);
    expect(v2.status).toBeGreaterThanOrEqual(400);
    expect(v2.status).toBeLessThan(500);
    expect(Array.isArray(v2.body.errors)).toBe(true);
    const ui = await curl(['-H', `authorization: Bearer ${app.token}`, `${app.url}/ui/imports/${bad}`]);
    expect(ui.status).toBe(400);
    expect(ui.headers.toLowerCase()).toContain('content-type: text/html');
    expect(String(ui.body.text)).toContain('not valid percent-encoding');
    for (const answer of [api, git, v2, ui]) expect(JSON.stringify(answer.body)).not.toMatch(leaks);
  });

  it('bad JSON and unknown pages keep their area\'s shape', async () => {
    const json = await curl(['-X', 'POST', '-H', `authorization: Bearer ${app.token}`, '-H', 'content-type: application/json', '--data', '{"size":', `${app.url}/api/v1/uploads`]);
    expect(json.status).toBe(400);
    expect(json.body).toEqual({ error: { code: 'USAGE', message: 'the body is not valid JSON' } });
    const page = await curl(['-H', `authorization: Bearer ${app.token}`, `${app.url}/ui/no-such-page`]);
    expect(page.status).toBe(404);
    expect(page.headers.toLowerCase()).toContain('content-type: text/html');
    const api = await curl([`${app.url}/api/v1/no-such-thing`]);
    expect(api.status).toBe(404);
    expect((api.body.error as { code: string }).code).toBe('NOT_FOUND');
  });
});
