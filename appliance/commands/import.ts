import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { type Command, UsageError, stringOpt, writeJson } from '../../src/command.js';
import { AirlockError } from '../../src/errors.js';
import { createProgress } from '../../src/progress.js';

interface ImportView {
  id: string;
  state: 'running' | 'applied' | 'failed';
  stage: string;
  progress: { bytes: number; totalBytes: number | null };
  error: { code: string; message: string } | null;
  sequence?: number | null;
  channel?: string | null;
  idempotent?: boolean;
}

export const applianceImport: Command = {
  path: ['appliance', 'import'],
  summary: 'upload a bundle to a running appliance',
  help: `Usage: airlock appliance import FILE --server URL --token-file F [--wait] [--json]

Streams the bundle to the appliance (POST /api/v1/imports) and prints the import id. With --wait, follows
the import to its end and exits 0 only if it ends applied (1 if it failed, with the reason).

Options:
  --server URL       the appliance, e.g. http://127.0.0.1:8080
  --token-file F     a file holding an API token with the operator or admin role (e.g. DATA/admin-token)
  --wait             wait for the import to finish
  --json             print the import record as JSON`,
  options: { server: { type: 'string' }, 'token-file': { type: 'string' }, wait: { type: 'boolean' } },
  positionals: [{ name: 'FILE', required: true }],
  async run(values, positionals, ctx) {
    const file: string = positionals[0] ?? '';
    if (!file) throw new UsageError('the bundle FILE is required');
    const server = (stringOpt(values, 'server', true)).replace(/\/+$/, '');
    const tokenFile = stringOpt(values, 'token-file', true);
    const token = (await readFile(tokenFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new AirlockError('USAGE', `cannot read token file ${tokenFile}: ${err.code ?? err.message}`);
    })).trim();
    const info = await stat(file).catch(() => {
      throw new AirlockError('NOT_FOUND', `cannot read ${file}`);
    });
    if (info.isDirectory()) throw new UsageError(`${file} is a directory: split parts are not supported by this version yet`);
    const headers = { authorization: `Bearer ${token}` };
    const progress = createProgress({ stream: ctx.stderr, enabled: ctx.interactive && !ctx.json, label: 'uploading' });
    progress.setTotal(info.size);
    async function* body(): AsyncGenerator<Buffer> {
      for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
        progress.add((chunk as Buffer).length);
        yield chunk as Buffer;
      }
    }
    let res: Response;
    try {
      res = await fetch(`${server}/api/v1/imports`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(info.size) },
        body: body() as unknown as BodyInit,
        duplex: 'half',
      } as RequestInit);
    } catch (err) {
      throw new AirlockError('APPLIANCE_UNREACHABLE', `cannot reach the appliance at ${server} (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`);
    }
    progress.done();
    const answer = (await res.json().catch(() => ({}))) as { id?: string; error?: { code: string; message: string } };
    if (res.status !== 202 || !answer.id) {
      throw new AirlockError('IO_ERROR', `the appliance refused the import (${res.status}${answer.error ? ` ${answer.error.code}: ${answer.error.message}` : ''})`);
    }
    if (!values.wait) {
      if (ctx.json) writeJson(ctx, { id: answer.id });
      else ctx.stdout.write(`${answer.id}\n`);
      return;
    }
    let record: ImportView;
    for (;;) {
      const r = await fetch(`${server}/api/v1/imports/${answer.id}`, { headers });
      record = (await r.json()) as ImportView;
      if (record.state !== 'running') break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    if (ctx.json) writeJson(ctx, record);
    else if (record.state === 'applied') ctx.stdout.write(`${record.id}: applied${record.idempotent ? ' (already in force)' : ''}, channel ${record.channel}, sequence ${record.sequence}\n`);
    if (record.state !== 'applied') {
      throw new AirlockError('IO_ERROR', `import ${record.id} failed: ${record.error?.code ?? 'UNKNOWN'}: ${record.error?.message ?? ''}`);
    }
  },
};
