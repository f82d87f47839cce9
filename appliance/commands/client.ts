/** What the `appliance` client commands share: the server address, the token, and JSON requests with clear errors. */
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type OptionValues, stringOpt } from '../../src/command.js';
import { AirlockError, type ErrorCode } from '../../src/errors.js';
import { drainedOrClosed } from '../../src/drained.js';

export const CLIENT_OPTIONS = { server: { type: 'string' }, 'token-file': { type: 'string' } } as const;

export const CLIENT_HELP = `  --server URL       the appliance, e.g. http://127.0.0.1:8080
  --token-file F     a file holding an API token (e.g. the appliance's DATA/admin-token)`;

export interface ApplianceClient {
  server: string;
  headers: Record<string, string>;
  request(path: string, init?: RequestInit): Promise<Response>;
  /** GET that must answer 200; the body as text. */
  getText(path: string): Promise<string>;
  /**
   * POSTs a body streamed from `source` (see `upload` below); the answer's status and text. Throws what `source`
   * throws, or APPLIANCE_UNREACHABLE.
   */
  upload(path: string, headers: Record<string, string>, source: AsyncIterable<Buffer>): Promise<{ status: number; text: string }>;
}

export async function applianceClient(values: OptionValues): Promise<ApplianceClient> {
  const server = stringOpt(values, 'server', true).replace(/\/+$/, '');
  const tokenFile = stringOpt(values, 'token-file', true);
  const token = (
    await readFile(tokenFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new AirlockError('USAGE', `cannot read token file ${tokenFile}: ${err.code ?? err.message}`);
    })
  ).trim();
  const headers = { authorization: `Bearer ${token}` };
  const request = async (path: string, init: RequestInit = {}) => {
    try {
      return await fetch(`${server}${path}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string> | undefined) } });
    } catch (err) {
      throw new AirlockError('APPLIANCE_UNREACHABLE', `cannot reach the appliance at ${server} (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`);
    }
  };
  return {
    server,
    headers,
    request,
    upload: (path, extra, source) => upload(new URL(`${server}${path}`), { ...headers, ...extra }, source, server),
    async getText(path) {
      const res = await request(path);
      const text = await res.text();
      if (res.status !== 200) throw serverError(res.status, text, `${server}${path} answered ${res.status}`);
      return text;
    },
  };
}

/**
 * The appliance's own error (`{"error": {"code", "message"}}`) as it sent it: its code is passed through unchanged
 * (e.g. UNAUTHORIZED, IMPORT_RUNNING, BASE_MISSING), so scripts see the same code from the CLI as from the API.
 * An answer without one gets a code by its status.
 */
export function serverError(status: number, body: string, context: string): AirlockError {
  let error: { code?: unknown; message?: unknown } | undefined;
  try {
    error = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
  } catch {
    error = undefined;
  }
  const code = typeof error?.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(error.code) ? error.code : statusCode(status);
  const message = typeof error?.message === 'string' ? error.message : body.slice(0, 200) || `status ${status}`;
  // A server code may be one only the appliance's API uses (UNAUTHORIZED, FORBIDDEN, IMPORT_RUNNING, …).
  return new AirlockError(code as ErrorCode, `${context}: ${message}`);
}

function statusCode(status: number): string {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 507) return 'INSUFFICIENT_STORAGE';
  return 'IO_ERROR';
}

const UPLOAD_IDLE_MS = 300_000;

/**
 * A streamed POST over node:http(s): each chunk of `source` is written as it comes, with backpressure (`fetch` with
 * a streamed body copied every chunk through a web stream: 1 GiB took 12–16 s against 4 s for curl). The appliance
 * may answer before the body is all sent (a bundle refused early): sending then stops and the answer is returned.
 */
function upload(url: URL, headers: Record<string, string>, source: AsyncIterable<Buffer>, server: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(err);
    };
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: 'POST', headers }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        req.destroy(); // an early answer leaves the rest of the body unsent: the connection is not reused
      });
    });
    // No byte either way for this long (undici's fetch had the same 300 s for an answer's headers): the appliance
    // is gone or hung, and the command ends instead of waiting forever.
    req.setTimeout(UPLOAD_IDLE_MS, () => fail(new AirlockError('APPLIANCE_UNREACHABLE', `the appliance at ${server} sent nothing for ${UPLOAD_IDLE_MS / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      // Writing after an early answer may fail (the appliance closed its side): the answer is what counts.
      if (answered) return;
      fail(new AirlockError('APPLIANCE_UNREACHABLE', `cannot reach the appliance at ${server} (${err.code ?? err.message})`));
    });
    void (async () => {
      try {
        for await (const chunk of source) {
          if (answered || settled) return;
          if (!req.write(chunk)) await drainedOrClosed(req);
        }
        if (!answered && !settled) req.end();
      } catch (err) {
        fail(err);
      }
    })();
  });
}
