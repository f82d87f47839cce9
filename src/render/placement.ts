/**
 * One placement's render, as the appliance and `airlock render` both run it: the sources expanded for the cluster
 * (charts, overlays; identity by default), the pure render (`renderCluster`), then the site's marks and image
 * rewrite (`desiredObjects`: owner, site and cluster labels, the bundle root annotation, images at the site
 * registry pinned to the digests the bundle holds). Any failure of any step fails the whole placement: no objects,
 * the errors named.
 */
import { errorMessage } from '../errors.js';
import { type DesiredObject, type DesiredOptions, desiredObjects } from '../kube/desired.js';
import type { ManifestDocument } from '../manifests/documents.js';
import { type SourceExpander, identityExpander } from './expand.js';
import { type RenderAccount, type RenderCluster, type RenderSite, renderCluster } from './render.js';
import type { RenderSource } from './types.js';

export interface PlacementRender {
  ok: boolean;
  /** What the placement applies (empty when the render failed). */
  objects: DesiredObject[];
  /** The rendered documents before the site's marks and image rewrite (same order as `objects`). */
  documents: ManifestDocument[];
  account: RenderAccount;
  errors: string[];
}

export interface PlacementRenderOptions {
  desired: DesiredOptions;
  expandSources?: SourceExpander;
}

export async function renderPlacement(sources: RenderSource[], site: RenderSite, cluster: RenderCluster, opts: PlacementRenderOptions): Promise<PlacementRender> {
  const failed = (errors: string[], account: RenderAccount): PlacementRender => ({ ok: false, objects: [], documents: [], account, errors });
  let expanded: RenderSource[];
  try {
    expanded = await (opts.expandSources ?? identityExpander)(sources, site, cluster);
  } catch (err) {
    const account: RenderAccount = { site: site.name, cluster: cluster.name, labels: { ...site.labels, ...cluster.labels }, sources: [], warnings: [] };
    return failed([errorMessage(err)], account);
  }
  const r = renderCluster(expanded, site, cluster);
  if (!r.ok) return failed(r.errors, r.account);
  try {
    return { ok: true, objects: desiredObjects(r.documents, opts.desired), documents: r.documents, account: r.account, errors: [] };
  } catch (err) {
    return failed([errorMessage(err)], r.account);
  }
}
