/** What every part of the appliance is given: state, content, clock, logger, failpoints. No globals. */
import type { OciLayoutStore } from '../src/oci-layout.js';
import type { SecretKey } from '../keys/key-file.js';
import type { Tools } from '../src/charts/tools.js';
import type { TrustRoot } from '../keys/trust-root.js';
import type { GitMirror } from './git/mirror.js';
import type { Reconciler } from './reconcile/reconciler.js';
import type { ExternalRegistry } from './registry/external.js';
import type { StateStore } from './state/store.js';

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface ApplianceContext {
  state: StateStore;
  /** Content-addressed blob store (an OCI layout under the data directory). */
  cas: OciLayoutStore;
  mirror: GitMirror;
  /** The trust root in force; replaced when an imported bundle carries the next one (appliance/trust-store.ts). */
  trust: TrustRoot;
  /** Where accepted trust roots are persisted (DATA/trust). */
  trustDir?: string;
  /** The appliance's own key: signs site receipts. */
  siteKey: SecretKey;
  external?: ExternalRegistry;
  /** Keeps the cluster at the bundles in force; unset when there is no cluster to reach. */
  reconciler?: Reconciler;
  /** Why there is no reconciler (no kubeconfig, no service account). */
  reconcileDisabled?: string;
  /** helm and kustomize for charts and overlays (`--helm`, `--kustomize`; default: PATH). */
  tools?: Tools;
  /** The site file's name and labels (`--site`): receipts carry them. */
  site?: { name: string; labels: Record<string, string> };
  /** `--depot`: its status for GET /api/v1/status and the Overview (appliance/depot/start.ts). */
  depot?: { view(): unknown };
  /** The channel this site follows; any channel when unset. */
  channel?: string;
  now: () => Date;
  log: Logger;
  /** Crash testing: `AIRLOCK_FAILPOINT=NAME` kills the process (SIGKILL) when it reaches NAME. */
  failpoint: (name: string) => void;
}

/** One JSON line per event on the given stream. */
export function jsonLogger(write: (line: string) => void, now: () => Date = () => new Date()): Logger {
  const emit = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => write(`${JSON.stringify({ time: now().toISOString(), level, msg, ...fields })}\n`);
  return { info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export function envFailpoint(env: NodeJS.ProcessEnv = process.env): (name: string) => void {
  const wanted = env.AIRLOCK_FAILPOINT;
  if (!wanted) return () => undefined;
  return (name) => {
    if (name === wanted) process.kill(process.pid, 'SIGKILL');
  };
}
