/** What the `appliance` client commands share: the server address, the token, and JSON requests with clear errors. */
import { readFile } from 'node:fs/promises';
import { type OptionValues, stringOpt } from '../../src/command.js';
import { AirlockError } from '../../src/errors.js';

export const CLIENT_OPTIONS = { server: { type: 'string' }, 'token-file': { type: 'string' } } as const;

export const CLIENT_HELP = `  --server URL       the appliance, e.g. http://127.0.0.1:8080
  --token-file F     a file holding an API token (e.g. the appliance's DATA/admin-token)`;

export interface ApplianceClient {
  server: string;
  headers: Record<string, string>;
  request(path: string, init?: RequestInit): Promise<Response>;
  /** GET that must answer 200; the body as text. */
  getText(path: string): Promise<string>;
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
    async getText(path) {
      const res = await request(path);
      const text = await res.text();
      if (res.status !== 200) throw new AirlockError('IO_ERROR', `${server}${path} answered ${res.status}: ${errorOf(text)}`);
      return text;
    },
  };
}

function errorOf(text: string): string {
  try {
    const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    return e ? `${e.code ?? ''}: ${e.message ?? ''}` : text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}
