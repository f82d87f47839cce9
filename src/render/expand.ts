/**
 * The step before the pure render that may do I/O (docs/notes contract A): Helm charts and Kustomize overlays are
 * expanded per cluster (their values differ per cluster) into plain `manifests`/`git` sources, keeping each
 * source's name, placement, overrides and values. Every place that renders for a cluster (the appliance's
 * placements, `airlock render`) runs the expander, then `renderCluster`. The default leaves the sources as they are.
 *
 * An expander throws an `AirlockError` naming the source it could not expand; the caller fails that cluster's
 * render with the message (nothing of it is applied), as for a strict render error.
 */
import type { RenderCluster, RenderSite } from './render.js';
import type { RenderSource } from './types.js';

export type SourceExpander = (sources: RenderSource[], site: RenderSite, cluster: RenderCluster) => Promise<RenderSource[]>;

export const identityExpander: SourceExpander = async (s) => s;
