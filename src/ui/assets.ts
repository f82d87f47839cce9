/**
 * What every airlock web UI serves the same way: its own assets (src/ui/static, found from here whether this runs
 * from source or from dist/) under a Content Security Policy that allows nothing from anywhere else.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const STATIC_DIR = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return join(dir, 'src', 'ui', 'static');
})();

/** The security headers on every response, and the static assets under `/static`. */
export function useUiBasics(router: Router): void {
  router.use((_req, res, next) => {
    res.set('content-security-policy', CONTENT_SECURITY_POLICY);
    res.set('x-content-type-options', 'nosniff');
    res.set('referrer-policy', 'no-referrer');
    next();
  });
  router.use('/static', express.static(STATIC_DIR, { index: false, maxAge: '1h' }));
}
