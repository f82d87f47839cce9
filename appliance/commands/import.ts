import { openBundleSource } from '../../src/bundle/parts-source.js';
import { type Command, UsageError, writeJson } from '../../src/command.js';
import { AirlockError, errorMessage } from '../../src/errors.js';
import { createProgress } from '../../src/progress.js';
import { unverifiedPartsIndex } from '../../keys/parts.js';
import { CLIENT_HELP, CLIENT_OPTIONS, applianceClient, serverError } from './client.js';

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
  summary: 'upload a bundle (file or split parts) to a running appliance',
  help: `Usage: airlock appliance import FILE|PARTS_DIR|NAME.parts.json|- --server URL --token-file F [--wait] [--json]

Streams the bundle to the appliance (POST /api/v1/imports) and prints the import id. With --wait, follows
the import to its end and exits 0 only if it ends applied (1 if it failed, with the reason).

Split parts are joined as they are sent, never copied: every part must be present with the size its index
lists before the upload starts, and each part's sha256 is checked as it passes; a bad part stops the upload
and is named. The appliance verifies the joined bundle as always. FILE - uploads standard input as it arrives.

Options:
${CLIENT_HELP}
  --wait             wait for the import to finish
  --json             print the import record as JSON`,
  options: { ...CLIENT_OPTIONS, wait: { type: 'boolean' } },
  positionals: [{ name: 'FILE|PARTS_DIR', required: true }],
  async run(values, positionals, ctx) {
    const file: string = positionals[0] ?? '';
    if (!file) throw new UsageError('the bundle FILE is required');
    const client = await applianceClient(values);
    // `-`: standard input, streamed as it arrives (its size unknown, so sent without Content-Length).
    const opened = file === '-' ? { source: ctx.stdin as AsyncIterable<Buffer>, size: 0, close: () => undefined, explain: async (err: Error) => err } : await openBundleSource(file, { readIndex: unverifiedPartsIndex });
    const progress = createProgress({ stream: ctx.stderr, enabled: ctx.interactive && !ctx.json, label: 'uploading' });
    progress.setTotal(opened.size);
    let bodyError: unknown;
    async function* body(): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of opened.source) {
          progress.add(chunk.length);
          yield chunk;
        }
      } catch (err) {
        bodyError = err;
        throw err;
      }
    }
    let res: { status: number; text: string };
    try {
      res = await client.upload('/api/v1/imports', { 'content-type': 'application/octet-stream', ...(file === '-' ? {} : { 'content-length': String(opened.size) }) }, body());
    } catch (err) {
      throw bodyError ?? err;
    } finally {
      opened.close();
    }
    progress.done();
    const { text } = res;
    let answer: { id?: string; error?: { code?: string; message?: string; id?: string } } = {};
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      answer = {};
    }
    if (res.status !== 202 || !answer.id) {
      // An import the appliance ended early (bad signature, bad bytes, full disk) is answered at once with its id
      // and code; the code is passed through.
      const id = answer.error?.id ?? answer.id;
      const refused = serverError(res.status, text, `the appliance refused the import${id ? ` ${id}` : ''} (${res.status})`);
      // bad bytes in split parts: name the part (each is hashed against its index)
      const named = ['DIGEST_MISMATCH', 'SIZE_MISMATCH', 'BUNDLE_CORRUPT', 'BUNDLE_TRUNCATED'].includes(refused.code) ? await opened.explain(refused) : refused;
      if (named !== refused) throw new AirlockError('PART_INVALID', `${errorMessage(named)}; ${refused.message}`);
      throw refused;
    }
    if (!values.wait) {
      if (ctx.json) writeJson(ctx, { id: answer.id });
      else ctx.stdout.write(`${answer.id}\n`);
      return;
    }
    let record: ImportView;
    for (;;) {
      record = JSON.parse(await client.getText(`/api/v1/imports/${answer.id}`)) as ImportView;
      if (record.state !== 'running') break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    if (ctx.json && record.state === 'applied') writeJson(ctx, record); // a failure prints the error object instead
    else if (record.state === 'applied') ctx.stdout.write(`${record.id}: applied${record.idempotent ? ' (already in force)' : ''}, channel ${record.channel}, sequence ${record.sequence}\n`);
    if (record.state !== 'applied') {
      throw serverError(500, JSON.stringify({ error: record.error }), `import ${record.id} failed`);
    }
  },
};
