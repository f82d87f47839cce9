/**
 * Sends a store file (all or one range) as a response body. The file is opened only to send a body (never for
 * HEAD or 304) and closed on every path: the end of the body, the client going away midway, a read error.
 * (`stream.pipe` leaves the source open when the response closes first, as it does whenever a client has all the
 * bytes it asked for and hangs up before the file's end-of-file is read: the descriptor leak of issue 16.)
 */
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream';
import type { Request, Response } from 'express';
import { ociError } from './oci-error.js';

export async function sendFile(req: Request, res: Response, path: string, range?: { start: number; end: number }): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    ociError(res, 500, 'UNKNOWN', `the blob store cannot read ${path.split('/').pop() ?? path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); run an import of the bundle in force again`);
    return;
  }
  if (req.destroyed || res.destroyed) {
    await handle.close();
    return;
  }
  const file = handle.createReadStream({ highWaterMark: 1024 * 1024, autoClose: true, ...(range ?? {}) });
  pipeline(file, res, (err) => {
    if (err && !res.destroyed) res.destroy();
  });
}
