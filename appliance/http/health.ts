/**
 * Probes for supervisors (systemd, Kubernetes), no sign-in: GET /healthz answers 200 while the process serves
 * requests; GET /readyz answers 200 only when the state database answers, the data directory takes a write and the
 * server is not stopping, else 503 with the check that failed.
 */
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Router } from 'express';
import { errorMessage } from '../../src/errors.js';
import type { StateStore } from '../state/store.js';

export interface HealthOptions {
  state: StateStore;
  dataDir: string;
  /** False once the appliance is stopping. */
  serving: () => boolean;
}

export function healthRouter({ state, dataDir, serving }: HealthOptions): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.set('cache-control', 'no-store').json({ status: 'ok' });
  });
  router.get('/readyz', (_req, res) => {
    void readiness(state, dataDir, serving).then((checks) => {
      const ready = Object.values(checks).every((c) => c === 'ok');
      res.status(ready ? 200 : 503).set('cache-control', 'no-store').json({ status: ready ? 'ready' : 'unavailable', checks });
    });
  });
  return router;
}

async function readiness(state: StateStore, dataDir: string, serving: () => boolean): Promise<Record<string, string>> {
  const checks: Record<string, string> = {};
  try {
    state.tokenCount();
    checks.state = 'ok';
  } catch (err) {
    checks.state = `the state database does not answer: ${errorMessage(err)}`;
  }
  const probe = join(dataDir, `.readyz-${process.pid}`);
  try {
    await writeFile(probe, 'ok\n');
    await unlink(probe);
    checks.dataDir = 'ok';
  } catch (err) {
    await unlink(probe).catch(() => undefined);
    checks.dataDir = `the data directory does not take a write (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`;
  }
  checks.server = serving() ? 'ok' : 'stopping';
  return checks;
}
