/**
 * Errors as answers: one status per error code, JSON bodies for the API (`{"error": {code, message}}`), OCI error
 * JSON for /v2, and the last-resort handlers that make sure no request ever gets Express's HTML stack trace or a
 * file path, and that a 5xx is logged at `error` level.
 */
import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { errorMessage, isAirlockError } from '../../src/errors.js';
import type { Logger } from '../context.js';
import { ImportBusy } from '../import/manager.js';

const STATUS: Record<string, number> = {
  USAGE: 400,
  PATH_REFUSED: 400,
  NOT_FOUND: 404,
  INSUFFICIENT_STORAGE: 507,
  PART_MISSING: 422,
  PART_INVALID: 422,
  UPLOAD_INCOMPLETE: 400,
  IO_ERROR: 500,
  INTERNAL: 500,
};

/** The HTTP status of an error code (a refused bundle is 422, an unknown failure 500). */
export function statusOfCode(code: string, fallback = 422): number {
  return STATUS[code] ?? fallback;
}

/** The stable code and a message safe to show: internal failures do not leak paths or stack frames. */
export function describeError(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof ImportBusy) return { status: 409, code: 'IMPORT_RUNNING', message: err.message };
  if (isAirlockError(err)) return { status: statusOfCode(err.code, 400), code: err.code, message: err.message };
  const status = httpStatusOf(err);
  if (status !== undefined && status < 500) {
    // body-parser and the router's own errors: bad JSON, a body too large, a path that is not valid percent-encoding
    const type = (err as { type?: string }).type;
    const message = status === 413 ? 'the request body is too large' : type === 'entity.parse.failed' ? 'the body is not valid JSON' : status === 400 && err instanceof URIError ? 'the path is not valid percent-encoding' : errorMessage(err);
    return { status, code: status === 404 ? 'NOT_FOUND' : 'USAGE', message };
  }
  if (err instanceof URIError) return { status: 400, code: 'USAGE', message: 'the path is not valid percent-encoding' };
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC' || (err as { code?: string } | undefined)?.code === 'SQLITE_FULL') {
    return { status: 507, code: 'INSUFFICIENT_STORAGE', message: 'the data directory is full: free space there and try again' };
  }
  return { status: 500, code: 'INTERNAL', message: 'an internal error occurred; the appliance log has the details' };
}

function httpStatusOf(err: unknown): number | undefined {
  const e = err as { status?: unknown; statusCode?: unknown } | undefined;
  const s = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  return s !== undefined && s >= 400 && s < 600 ? s : undefined;
}

/** Sends an API error (nothing when an answer is already on its way). */
export function sendError(res: Response, err: unknown, extra: Record<string, unknown> = {}): void {
  if (res.headersSent) return;
  const { status, code, message } = describeError(err);
  res.status(status).json({ error: { code, message, ...(err instanceof ImportBusy ? { id: err.runningId } : {}), ...extra } });
}

/** Logs a failure behind a 5xx with what the client is not shown. */
export function logFailure(log: Logger, req: Request, err: unknown): void {
  const { status } = describeError(err);
  if (status >= 500) log.error('request failed', { method: req.method, path: safePath(req), message: errorMessage(err), stack: (err as Error | undefined)?.stack });
}

function safePath(req: Request): string {
  return (req.originalUrl ?? req.url).split('?')[0] ?? '';
}

/** Express error handler for JSON routes (/api, /git, everything not the UI or /v2). */
export function jsonErrorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    logFailure(log, req, err);
    if (res.headersSent) return next(err);
    sendError(res, err);
  };
}

/** Express error handler for /v2: the OCI distribution error body. */
export function ociErrorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    logFailure(log, req, err);
    if (res.headersSent) return next(err);
    const { status, code, message } = describeError(err);
    const oci = status === 404 ? 'NAME_UNKNOWN' : status >= 500 ? 'UNKNOWN' : code === 'UNAUTHORIZED' ? 'UNAUTHORIZED' : 'UNSUPPORTED';
    res.status(status).set('docker-distribution-api-version', 'registry/2.0').type('application/json').send(JSON.stringify({ errors: [{ code: oci, message }] }));
  };
}

/**
 * Makes every handler later registered on `router` (get, post, patch, put, delete, all, use) pass a rejected promise
 * to `next`: Express 4 does not, and an unhandled rejection would end the process.
 */
export function catchAsync<R extends Router>(router: R): R {
  const wrap = (h: unknown): unknown => {
    if (typeof h !== 'function' || h.length >= 4) return Array.isArray(h) ? h.map(wrap) : h; // error handlers: as they are
    const fn = h as RequestHandler;
    const wrapped: RequestHandler = (req, res, next) => {
      try {
        const out = fn(req, res, next) as unknown;
        if (out instanceof Promise) out.catch((err: unknown) => next(err));
      } catch (err) {
        next(err);
      }
    };
    return wrapped;
  };
  const target = router as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const method of ['get', 'post', 'patch', 'put', 'delete', 'all', 'use']) {
    const original = target[method]?.bind(router);
    if (original) target[method] = (...args: unknown[]) => original(...args.map(wrap));
  }
  return router;
}
