/**
 * `POST /api/v1/gc` (`airlock appliance gc`): garbage collection on demand, admin role. `{"dryRun": true}` only
 * reports. 409 while an import runs (the collection after it follows on its own).
 */
import express, { Router } from 'express';
import type { ApplianceContext } from '../context.js';
import type { ImportManager } from '../import/manager.js';
import { requireRole } from '../http/auth.js';
import { sendError } from '../http/errors.js';
import { collectGarbage, gcFields } from './collect.js';

export function gcRouter({ ctx, imports, keep }: { ctx: ApplianceContext; imports: ImportManager; keep: number }): Router {
  const router = Router();
  router.post('/', requireRole(ctx.state, 'admin'), express.json({ limit: '1kb' }), async (req, res) => {
    try {
      const dryRun = (req.body as { dryRun?: unknown } | undefined)?.dryRun === true;
      const report = await imports.exclusive(() => collectGarbage(ctx, { keep, dryRun }));
      const caller = res.locals.caller as { name: string } | undefined;
      if (!dryRun) {
        ctx.state.audit(caller?.name ?? 'unknown', 'gc', gcFields(report), ctx.now());
        ctx.log.info('garbage collected', gcFields(report));
      }
      res.json(report);
    } catch (err) {
      sendError(res, err);
    }
  });
  return router;
}
