/**
 * The clusters an appliance reconciles: those of its site file (`--site`), or the one `--kubeconfig` (or the pod's
 * service account) names, as the cluster `local`. The site file is read and checked, kubeconfigs included, before
 * anything listens: a bad one stops the start naming file and line.
 */
import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { AirlockError, errorMessage } from '../../src/errors.js';
import { type Site, parseSiteFile } from '../../src/site/site-file.js';
import { Cluster } from './cluster.js';
import { loadKubeconfig } from './kubeconfig.js';
import type { ReconcileCluster } from './reconciler.js';

/** Reads and checks a site file; every kubeconfig it names must be readable and loadable (its current context complete). */
export async function loadSiteFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<Site> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new AirlockError('SITE_INVALID', `cannot read the site file ${path}: ${err.code ?? err.message}`);
  });
  const site = parseSiteFile(text, path);
  const problems: string[] = [];
  for (const c of site.clusters) {
    if (c.inCluster && !env.KUBERNETES_SERVICE_HOST) problems.push(`${c.origin}: cluster ${c.name}: inCluster: true, but this process runs in no pod (no KUBERNETES_SERVICE_HOST)`);
    if (!c.kubeconfig) continue;
    const readable = await access(c.kubeconfig, constants.R_OK).then(() => true, () => false);
    if (!readable) {
      problems.push(`${c.origin}: cluster ${c.name}: the kubeconfig ${c.kubeconfig} does not exist or cannot be read`);
      continue;
    }
    try {
      loadKubeconfig(c.kubeconfig); // its context, cluster and user, and no unsupported field (ADR 023)
    } catch (err) {
      problems.push(`${c.origin}: cluster ${c.name}: the kubeconfig ${c.kubeconfig} cannot be loaded: ${errorMessage(err)}`);
    }
  }
  if (problems.length) throw new AirlockError('SITE_INVALID', `the site file is not valid: ${problems.join('; ')}`);
  return site;
}

export { implicitSite } from './implicit-site.js';

/** A client per cluster of the site. */
export function connectClusters(site: Site, env: NodeJS.ProcessEnv, timeoutMs?: number): ReconcileCluster[] {
  return site.clusters.map((c) => {
    const api = Cluster.connect(c.kubeconfig, env, timeoutMs);
    if (!api) throw new AirlockError('SITE_INVALID', `${c.origin}: cluster ${c.name}: inCluster: true, but this process runs in no pod (no KUBERNETES_SERVICE_HOST)`);
    return { name: c.name, api, labels: { ...site.labels, ...c.labels }, values: { ...site.values, ...c.values }, reconcile: c.reconcile, own: { labels: c.labels, values: c.values } };
  });
}
