/**
 * The site an appliance without a site file stands for. Kept apart from targets.ts so that the appliance decides
 * whether there is a cluster at all without loading the Kubernetes client (about 3.5 s of module loading).
 */
import { type Site, singleClusterSite } from '../../src/site/site-file.js';

/** The site an appliance without a site file stands for: `local` from --kubeconfig or the service account, or none. */
export function implicitSite(name: string, kubeconfig: string | undefined, env: NodeJS.ProcessEnv): Site | undefined {
  if (kubeconfig) return singleClusterSite(name, { kubeconfig });
  if (env.KUBERNETES_SERVICE_HOST) return singleClusterSite(name, { inCluster: true });
  return undefined;
}
