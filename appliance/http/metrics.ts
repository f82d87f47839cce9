/**
 * `GET /metrics` in the Prometheus text format (version 0.0.4): imports by outcome and bytes imported (from the
 * state database, so they survive restarts), and per placement: last sync duration, sync and health as 0/1 gauges,
 * drifted objects. Needs a viewer token, like the API (Prometheus sends it with `authorization.credentials`).
 */
import { Router } from 'express';
import type { ApplianceContext } from '../context.js';
import { placementStatus } from '../status.js';
import { requireRole } from './auth.js';

const HEALTHS = ['Healthy', 'Progressing', 'Degraded', 'Unknown'];
const SYNCS = ['Synced', 'OutOfSync', 'Unknown'];

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function renderMetrics(ctx: ApplianceContext): string {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [Record<string, string>, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const text = Object.entries(labels).map(([k, v]) => `${k}="${label(v)}"`).join(',');
      lines.push(`${name}${text ? `{${text}}` : ''} ${value}`);
    }
  };
  const imports = ctx.state.listImports(Number.MAX_SAFE_INTEGER);
  const outcomes = new Map<string, number>([['applied', 0], ['failed', 0], ['running', 0]]);
  for (const i of imports) outcomes.set(i.state, (outcomes.get(i.state) ?? 0) + 1);
  metric('airlock_imports_total', 'counter', 'Imports by outcome (applied, failed, running).', [...outcomes].map(([outcome, n]) => [{ outcome }, n]));
  metric('airlock_imported_bytes_total', 'counter', 'Bytes received by imports that were applied.', [[{}, imports.filter((i) => i.state === 'applied').reduce((n, i) => n + i.progress.bytes, 0)]]);
  const placements = placementStatus(ctx);
  const of = (p: (typeof placements)[number]) => ({ cluster: p.cluster, channel: p.channel });
  metric(
    'airlock_placement_sync_duration_seconds',
    'gauge',
    'How long the last sync of each placement took.',
    placements.flatMap((p) => {
      const ms = (p.lastSync as { ms?: number } | null)?.ms;
      return ms === undefined ? [] : [[of(p), ms / 1000] as [Record<string, string>, number]];
    }),
  );
  metric('airlock_placement_sync_ok', 'gauge', 'Whether the last sync of each placement succeeded (1) or failed (0).', placements.filter((p) => p.lastSync).map((p) => [of(p), (p.lastSync as { ok: boolean }).ok ? 1 : 0]));
  metric('airlock_placement_drifted_objects', 'gauge', 'Objects of each placement that differ from the bundle or are missing.', placements.map((p) => [of(p), p.drifted]));
  metric('airlock_placement_sync_status', 'gauge', 'Sync status of each placement (1 for the current status).', placements.flatMap((p) => SYNCS.map((s) => [{ ...of(p), status: s }, p.sync === s ? 1 : 0] as [Record<string, string>, number])));
  metric('airlock_placement_health', 'gauge', 'Health of each placement (1 for the current health).', placements.flatMap((p) => HEALTHS.map((h) => [{ ...of(p), health: h }, p.health === h ? 1 : 0] as [Record<string, string>, number])));
  return `${lines.join('\n')}\n`;
}

export function metricsRouter(ctx: ApplianceContext): Router {
  const router = Router();
  router.get('/metrics', requireRole(ctx.state, 'viewer'), (_req, res) => {
    res.type('text/plain; version=0.0.4; charset=utf-8').send(renderMetrics(ctx));
  });
  return router;
}
