/**
 * Git smart HTTP, read-only, for the mirror: each request runs git's own `git http-backend` as a CGI program
 * over the mirror's bare repositories. Pushes (receive-pack) are refused.
 *
 * Each child belongs to its request: it runs in its own process group, which is killed when the response ends or
 * the client goes away (an aborted `git-upload-pack` POST would otherwise leave git waiting for the rest of its
 * body forever), and `close()` kills every child still running (the appliance's shutdown). A child that cannot
 * be started (`EMFILE`, `EAGAIN`, no `git`) is answered 503, never thrown. Internal refs (`refs/airlock/`) are
 * hidden from every client and partial clone filters are allowed, by configuration passed in the environment
 * (so mirrors created by older versions get it too); the dumb protocol's ref list, which `git http-backend` builds
 * from every ref, is answered here from the repository's `info/refs` without them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Request, Response } from 'express';

/** Configuration every git process of the mirror's HTTP side runs with. */
export const MIRROR_SERVE_CONFIG: readonly (readonly [string, string])[] = [
  ['transfer.hideRefs', 'refs/airlock/'],
  ['uploadpack.allowFilter', 'true'],
];

export interface GitHttpOptions {
  /** The git executable (default `git` on PATH). */
  git?: string;
  /** PATH for git (default the process's). */
  path?: string;
}

export interface GitHttpHandler {
  (req: Request, res: Response): void;
  /** Kills every child still running (process group, SIGKILL). */
  close(): void;
  /** How many children are running. */
  running(): number;
}

function killGroup(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

function configEnv(): Record<string, string> {
  const env: Record<string, string> = { GIT_CONFIG_COUNT: String(MIRROR_SERVE_CONFIG.length) };
  MIRROR_SERVE_CONFIG.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return env;
}

/** Answers a plain-text error, once: a response already under way is cut instead (the client sees it fail). */
function plain(res: Response, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.writableEnded) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(status).set(headers).type('text/plain').send(`${text}\n`);
}

/** A ref line of `info/refs` a client may see (internal refs are hidden). */
export function visibleRefLine(line: string): boolean {
  return line !== '' && !line.split('\t')[1]?.startsWith('refs/airlock/');
}

function sendDumbRefs(res: Response, repo: string): void {
  readFile(join(repo, 'info', 'refs'), 'utf8').then(
    (text) => {
      const lines = text.split('\n').filter(visibleRefLine);
      res.status(200).set({ 'cache-control': 'no-cache' }).type('text/plain').send(lines.length ? `${lines.join('\n')}\n` : '');
    },
    () => plain(res, 404, 'no such repository'),
  );
}

export function gitHttpHandler(projectRoot: string, { git = 'git', path: searchPath = process.env.PATH ?? '/usr/bin:/bin' }: GitHttpOptions = {}): GitHttpHandler {
  const children = new Set<ChildProcess>();
  const handler = (req: Request, res: Response): void => {
    let path: string;
    try {
      path = decodeURIComponent(req.path);
    } catch {
      // the same JSON error shape as the rest of the appliance's API (git prints the text of non-Git answers)
      if (!res.headersSent) res.status(400).json({ error: { code: 'USAGE', message: 'the path is not valid percent-encoding' } });
      return;
    }
    const service = typeof req.query.service === 'string' ? req.query.service : '';
    if (path.endsWith('/git-receive-pack') || service === 'git-receive-pack' || !/^\/[a-z0-9][a-z0-9._-]*\.git(\/|$)/.test(path) || path.includes('..')) {
      plain(res, 403, 'the airlock Git mirror is read-only');
      return;
    }
    const dumbRefs = /^\/([a-z0-9][a-z0-9._-]*\.git)\/info\/refs$/.exec(path);
    if (dumbRefs?.[1] && !service && (req.method === 'GET' || req.method === 'HEAD')) {
      sendDumbRefs(res, join(projectRoot, dumbRefs[1]));
      return;
    }
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
    let child: ChildProcess;
    try {
      child = spawn(git, ['http-backend'], {
        env: {
          PATH: searchPath,
          GIT_PROJECT_ROOT: projectRoot,
          GIT_HTTP_EXPORT_ALL: '1',
          PATH_INFO: path,
          QUERY_STRING: query,
          REQUEST_METHOD: req.method,
          CONTENT_TYPE: req.headers['content-type'] ?? '',
          ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
          ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) } : {}),
          ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
          REMOTE_ADDR: req.socket.remoteAddress ?? '',
          ...configEnv(),
        },
        stdio: ['pipe', 'pipe', 'ignore'],
        detached: true, // its own process group: killing it takes upload-pack and pack-objects along
      });
    } catch (err) {
      plain(res, 503, `git http-backend could not start (${(err as NodeJS.ErrnoException).code ?? 'error'}); try again`, { 'retry-after': '5' });
      return;
    }
    children.add(child);
    const settle = () => children.delete(child);
    child.once('exit', settle);
    child.once('error', (err: NodeJS.ErrnoException) => {
      settle();
      req.unpipe();
      plain(res, 503, `git http-backend could not start (${err.code ?? err.message}); try again`, { 'retry-after': '5' });
    });
    // The request's end, however it comes (body sent, client gone): the child goes too.
    res.once('close', () => killGroup(child));
    const { stdin, stdout } = child;
    if (!stdin || !stdout) {
      // EMFILE/ENFILE: Node made no pipes and reports the error on the next tick (answered above, with its code).
      killGroup(child);
      setImmediate(() => plain(res, 503, 'git http-backend could not start (no pipes); try again', { 'retry-after': '5' }));
      return;
    }
    stdin.on('error', () => undefined);
    stdout.on('error', () => undefined);
    req.on('error', () => killGroup(child));
    req.pipe(stdin);
    let head = Buffer.alloc(0);
    let streaming = false;
    const write = (chunk: Buffer) => {
      if (!res.write(chunk)) {
        stdout.pause();
        res.once('drain', () => stdout.resume());
      }
    };
    stdout.on('data', (chunk: Buffer) => {
      if (streaming) return write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      streaming = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = parseInt(value, 10) || 500;
        else res.setHeader(name, value);
      }
      res.status(status);
      write(head.subarray(end + 4));
    });
    stdout.on('end', () => {
      if (streaming) res.end();
      else plain(res, 502, 'git http-backend ended without an answer');
    });
  };
  return Object.assign(handler, {
    close() {
      for (const child of children) killGroup(child);
    },
    running: () => children.size,
  });
}
