/**
 * Git smart HTTP, read-only, for the mirror: each request runs git's own `git http-backend` as a CGI program
 * over the mirror's bare repositories. Pushes (receive-pack) are refused.
 */
import { spawn } from 'node:child_process';
import type { Request, Response } from 'express';

export function gitHttpHandler(projectRoot: string) {
  return (req: Request, res: Response): void => {
    const path = decodeURIComponent(req.path);
    const service = typeof req.query.service === 'string' ? req.query.service : '';
    if (path.endsWith('/git-receive-pack') || service === 'git-receive-pack' || !/^\/[a-z0-9][a-z0-9._-]*\.git(\/|$)/.test(path) || path.includes('..')) {
      res.status(403).type('text/plain').send('the airlock Git mirror is read-only\n');
      return;
    }
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
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
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(child.stdin);
    child.stdin.on('error', () => undefined);
    let head = Buffer.alloc(0);
    let streaming = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (streaming) {
        res.write(chunk);
        return;
      }
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
      res.write(head.subarray(end + 4));
    });
    child.stdout.on('end', () => res.end());
    child.on('error', () => {
      if (!res.headersSent) res.status(500).type('text/plain').send('git http-backend failed to start\n');
      else res.destroy();
    });
  };
}
