/** The JSON API of docs/http-api.md: imports, status, bundle history. Every route needs a token. */
import { randomBytes } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import express, { type Response, Router } from 'express';
import { locateBundle, openBundleSource } from '../../src/bundle/parts-source.js';
import { openRangedBundle } from '../../src/bundle/ranged-file.js';
import { AirlockError } from '../../src/errors.js';
import { verifyPartsIndex } from '../../keys/parts.js';
import { publicPart } from '../../keys/key-file.js';
import type { ApplianceContext } from '../context.js';
import { siteReceipt } from '../receipt.js';
import { channelStatus, toolStatus, trustStatus } from '../status.js';
import { objectsView, reconcileView } from './status-routes.js';
import type { ImportManager } from '../import/manager.js';
import { UploadSession } from '../import/upload-session.js';
import type { ImportRecord } from '../state/store.js';
import { requireRole } from './auth.js';
import { RequestBody, answerEarly } from './body.js';
import { catchAsync, describeError, jsonErrorHandler, sendError } from './errors.js';
import { uploadImport } from './upload.js';

export interface ApiOptions {
  ctx: ApplianceContext;
  imports: ImportManager;
  media?: string;
}

export function apiRouter({ ctx, imports, media }: ApiOptions): Router {
  const router = catchAsync(Router());
  const viewer = requireRole(ctx.state, 'viewer');
  const operator = requireRole(ctx.state, 'operator');

  router.post('/imports', operator, async (req, res) => {
    try {
      if (req.is('application/json')) {
        await new Promise<void>((resolveParse, reject) => express.json({ limit: '64kb' })(req, res, (err?: unknown) => (err ? reject(err) : resolveParse())));
        const path = (req.body as { path?: unknown })?.path;
        if (typeof path !== 'string' || !path) throw new AirlockError('USAGE', 'the body must be {"path": "FILE"} naming a file under --media, or the bundle bytes as application/octet-stream');
        const file = await mediaFile(media, path);
        // A bundle file, or split parts (a directory or NAME.parts.json) whose signed index is checked here and
        // whose parts must all be present with their sizes before the import starts. The pipeline verifies every
        // byte of the joined bundle itself; after a failure, each part is hashed on its own to name the bad one.
        // A single file is read at offsets, two blobs at a time, each hashed and written by a thread of its own
        // (ADR 022); with --registry its layers stream on through this thread, so it is read front to back.
        const ranged = !ctx.external && (await locateBundle(file)).kind === 'file';
        const opened = ranged ? await openRangedImport(file) : await openBundleSource(file, { readIndex: (text, label) => verifyPartsIndex(text, ctx.trust, relative(media ?? '', label)), hashParts: false });
        try {
          await imports.checkSpace(opened.size);
        } catch (err) {
          opened.close();
          throw err;
        }
        // closed when the import settles: it may stop reading early (bundle already in force, or bad bytes)
        const started = imports.start(`media:${path}`, opened.size, opened, () => opened.close());
        audit(ctx, res, 'import.started', { id: started.id, source: `media:${path}` });
        res.status(202).json({ id: started.id });
        return;
      }
      await uploadImport({ ctx, imports, audit: (r, action, detail) => audit(ctx, r, action, detail) }, req, res);
    } catch (err) {
      sendError(res, err);
      if (!req.complete) req.resume();
    }
  });

  // Resumable uploads: POST starts the import at once; PATCH pieces at the session's offset (`upload-offset`
  // header); GET tells the offset to resume from after a dropped connection or a reloaded page.
  const uploads = new Map<string, UploadSession>();
  router.post('/uploads', operator, express.json({ limit: '4kb' }), async (req, res) => {
    try {
      const size = Number((req.body as { size?: unknown })?.size);
      if (!Number.isSafeInteger(size) || size < 1024) throw new AirlockError('USAGE', 'the body must be {"size": BYTES} with the size of the bundle to upload');
      await imports.checkSpace(size);
      const session = new UploadSession(randomBytes(16).toString('base64url'), size);
      const started = imports.start('upload (resumable)', size, { source: session.source() }, () => {
        const error = ctx.state.getImport(session.importId)?.error;
        session.fail(new AirlockError('UPLOAD_INCOMPLETE', `the import this upload fed (${session.importId}) has ended${error ? `: ${error.code}: ${error.message}` : ''}`));
        uploads.delete(session.id);
      });
      session.importId = started.id;
      uploads.set(session.id, session);
      audit(ctx, res, 'import.started', { id: started.id, source: 'upload (resumable)' });
      res.status(201).json(uploadView(session));
    } catch (err) {
      sendError(res, err);
    }
  });

  router.get('/uploads/:id', operator, (req, res) => {
    const session = uploads.get(req.params.id ?? '');
    if (!session) return sendError(res, new AirlockError('NOT_FOUND', 'no such upload in progress (finished, failed, or the appliance restarted)'));
    res.json(uploadView(session));
  });

  router.patch('/uploads/:id', operator, async (req, res) => {
    const session = uploads.get(req.params.id ?? '');
    const body = new RequestBody(req, null);
    try {
      if (!session) throw new AirlockError('NOT_FOUND', 'no such upload in progress (finished, failed, or the appliance restarted)');
      const at = Number(req.get('upload-offset'));
      if (at !== session.offset || session.busy) {
        answerEarly(res, 409, { error: { code: 'OFFSET_MISMATCH', message: `the upload is at byte ${session.offset}; send from there` }, ...uploadView(session) }, () => body.discard());
        return;
      }
      await session.receive(body.source());
      res.json(uploadView(session));
    } catch (err) {
      // answered at once (the import ended, or the piece is refused), with the import's id; the rest is drained
      const { status, code, message } = describeError(err);
      answerEarly(res, status, { error: { code, message, ...(session ? { id: session.importId } : {}) } }, () => body.discard());
    }
  });

  router.get('/imports', viewer, (_req, res) => {
    res.json({ imports: ctx.state.listImports().map(publicImport) });
  });

  router.get('/imports/:id', viewer, (req, res) => {
    const record = ctx.state.getImport(req.params.id ?? '');
    if (!record) {
      res.status(404).json({ error: { code: 'NOT_FOUND', message: `no import ${req.params.id}` } });
      return;
    }
    res.json(publicImport(record));
  });

  // Server-sent events: the import record whenever it changes, until it ends.
  router.get('/imports/:id/events', viewer, (req, res) => {
    const id = req.params.id ?? '';
    if (!ctx.state.getImport(id)) {
      res.status(404).json({ error: { code: 'NOT_FOUND', message: `no import ${id}` } });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    let last = '';
    const tick = () => {
      const record = ctx.state.getImport(id);
      const text = JSON.stringify(record ? publicImport(record) : null);
      if (text !== last) {
        res.write(`data: ${text}\n\n`);
        last = text;
      }
      if (!record || record.state !== 'running') {
        clearInterval(timer);
        res.end();
      }
    };
    const timer = setInterval(tick, 200);
    req.on('close', () => clearInterval(timer));
    tick();
  });

  router.get('/status', viewer, async (_req, res) => {
    const tools = await toolStatus(ctx);
    res.json({
      channels: channelStatus(ctx),
      importRunning: imports.current ?? null,
      ...reconcileView(ctx),
      trustRoot: { version: ctx.trust.version, expires: ctx.trust.expires },
      trust: trustStatus(ctx),
      tools,
      ...(ctx.depot ? { depot: ctx.depot.view() } : {}),
    });
  });

  router.get('/objects', viewer, (req, res) => {
    const cluster = typeof req.query.cluster === 'string' ? req.query.cluster : undefined;
    const view = objectsView(ctx, cluster);
    if (!view) res.status(404).json({ error: { code: 'NOT_FOUND', message: `no cluster ${cluster ?? ''} in this site` } });
    else res.json(view);
  });

  router.get('/receipt', viewer, async (_req, res) => {
    try {
      const text = await siteReceipt(ctx);
      res.type('application/json').set('content-disposition', 'attachment; filename="receipt.json"').send(text);
    } catch (err) {
      sendError(res, err);
    }
  });

  router.get('/receipt/key', viewer, (_req, res) => {
    res.type('application/json').set('content-disposition', 'attachment; filename="appliance.pub"').send(`${JSON.stringify(publicPart(ctx.siteKey), null, 2)}\n`);
  });

  // Re-apply a bundle held on site (rollback): answered like an import, followed at /imports/{id}.
  router.post('/bundles/:root/apply', operator, (req, res) => {
    try {
      const started = imports.reapply(req.params.root ?? '');
      audit(ctx, res, 'bundle.reapply', { id: started.id, root: req.params.root });
      res.status(202).json({ id: started.id });
    } catch (err) {
      sendError(res, err);
    }
  });

  router.get('/bundles', viewer, (_req, res) => {
    res.json({ bundles: ctx.state.listImports().map(publicImport) });
  });

  router.use((_req, res) => sendError(res, new AirlockError('NOT_FOUND', 'no such endpoint')));
  router.use(jsonErrorHandler(ctx.log));
  return router;
}

function uploadView(s: UploadSession): { id: string; importId: string; offset: number; size: number } {
  return { id: s.id, importId: s.importId, offset: s.offset, size: s.size };
}

/** The import as docs/http-api.md shapes it, plus its details. */
export function publicImport(r: ImportRecord): Record<string, unknown> {
  return {
    id: r.id,
    state: r.state,
    stage: r.stage,
    progress: r.progress,
    error: r.error,
    source: r.source,
    name: r.name,
    channel: r.channel,
    sequence: r.sequence,
    rootDigest: r.rootDigest,
    signers: r.signers,
    stages: r.stages,
    idempotent: r.idempotent,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
  };
}

/** A file under the media directory; anything resolving outside it (`..`, absolute paths, symlinks) is refused. */
export async function mediaFile(media: string | undefined, path: string): Promise<string> {
  if (!media) throw new AirlockError('PATH_REFUSED', 'imports from a path need the appliance to be started with --media DIR');
  const root = await realpath(media);
  const candidate = resolve(root, path);
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    if (!inside(root, candidate)) throw new AirlockError('PATH_REFUSED', `${path} is outside the media directory`);
    throw new AirlockError('NOT_FOUND', `no file ${path} under the media directory`);
  }
  if (!inside(root, real)) throw new AirlockError('PATH_REFUSED', `${path} is outside the media directory`);
  return real;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

function audit(ctx: ApplianceContext, res: Response, action: string, detail: unknown): void {
  const caller = res.locals.caller as { name: string } | undefined;
  ctx.state.audit(caller?.name ?? 'unknown', action, detail, ctx.now());
}

/** A bundle file for an import, read at offsets: what `imports.start` takes, and `close` once it settles. */
async function openRangedImport(path: string) {
  const { file, close } = await openRangedBundle(path);
  return { size: file.size, source: file, close: () => void close() };
}
