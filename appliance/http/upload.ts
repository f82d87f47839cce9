/**
 * POST /api/v1/imports with the bundle bytes as the body. The import starts on the first byte and reads the body as
 * it arrives; the answer is 202 once the whole body is in and every byte of it verified. An import that ends before the body does (a bad
 * signature, a replayed sequence, a bad byte, a full disk) is answered at once with its error, its id and its code,
 * and the rest of the body is drained briefly, then the connection closed (see answerEarly).
 */
import type { Request, Response } from 'express';
import type { ApplianceContext } from '../context.js';
import type { ImportManager } from '../import/manager.js';
import { RequestBody, answerEarly } from './body.js';
import { describeError, statusOfCode } from './errors.js';

export interface UploadOptions {
  ctx: ApplianceContext;
  imports: ImportManager;
  audit: (res: Response, action: string, detail: unknown) => void;
}

export async function uploadImport({ ctx, imports, audit }: UploadOptions, req: Request, res: Response): Promise<void> {
  const declared = req.headers['content-length'] ? Number(req.headers['content-length']) : null;
  const body = new RequestBody(req, declared);
  let id: string | undefined;
  try {
    await imports.checkSpace(declared);
    // Accepted once the body is in and the archive read and verified to its end. Not on the body's end alone: the
    // request's 'end' comes as soon as its last chunk arrives, while the reader may still be hashing the last blob,
    // and a tampered last blob then got 202 (seen in CI). Not before the end either: HTTP clients (undici among them)
    // stop sending a body once the response is complete. The import is recorded from the first byte, so its
    // progress is visible meanwhile.
    let bodyEnded = false;
    let verified = false;
    const accept = () => {
      if (bodyEnded && verified && !res.headersSent && id) res.status(202).json({ id });
    };
    req.once('end', () => {
      bodyEnded = true;
      accept();
    });
    const started = imports.start('upload', declared, {
      source: body.source(),
      onRead: () => {
        verified = true;
        accept();
      },
      ...(declared === null ? { checkNeeded: (bytes: number) => imports.checkSpace(bytes) } : {}),
    });
    id = started.id;
    audit(res, 'import.started', { id: started.id, source: 'upload' });
    accept();
    const outcome = await started.done;
    // applied: the body was read to its end and verified, and the 202 went out then
    if (res.headersSent || outcome.state === 'applied') return;
    const record = ctx.state.getImport(started.id);
    const code = record?.error?.code ?? 'INTERNAL';
    const message = record?.error?.message ?? 'the import ended before the upload did';
    answerEarly(res, statusOfCode(code), { id: started.id, state: outcome.state, error: { code, message, id: started.id } }, () => body.discard());
  } catch (err) {
    const { status, code, message } = describeError(err);
    answerEarly(res, status, { ...(id ? { id } : {}), error: { code, message, ...(id ? { id } : {}), ...((err as { runningId?: string }).runningId ? { id: (err as { runningId: string }).runningId } : {}) } }, () => body.discard());
  }
}
