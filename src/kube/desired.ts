/**
 * The desired state of a channel: every object of the bundle's manifest sets and Git manifest paths, checked
 * (apiVersion, kind, name; one object per identity), labelled as owned by the channel, annotated with the bundle's
 * root, images pointed at the site registry. Pure: errors name the file, line and object.
 */
import { AirlockError } from '../errors.js';
import type { KubeObject, ManifestDocument } from '../manifests/documents.js';
import { type RewriteRules, rewriteObject } from './rewrite.js';

export const OWNER_LABEL = 'airlock.dev/owner';
export const ROOT_ANNOTATION = 'airlock.dev/bundle-root';
export const WAVE_ANNOTATION = 'airlock.dev/sync-wave';
/** With the owner label, these name the placement an object belongs to (site, channel, cluster). */
export const SITE_LABEL = 'airlock.dev/site';
export const CLUSTER_LABEL = 'airlock.dev/cluster';

/** Which placement applied an object: its channel, and the site and cluster it was applied for. */
export interface PlacementMark {
  channel: string;
  site: string;
  cluster: string;
}

/**
 * Whether a live object belongs to this placement and prune may delete it: its labels name this channel, site and
 * cluster. An object with the channel's owner label and no site and cluster labels was written by a release before
 * placements: it is adopted (the caller only asks about objects in the placement's own inventory).
 */
export function ownedBy(labels: Record<string, string> | undefined, mark: PlacementMark): boolean {
  if (labels?.[OWNER_LABEL] !== mark.channel) return false;
  const site = labels[SITE_LABEL];
  const cluster = labels[CLUSTER_LABEL];
  if (site === undefined && cluster === undefined) return true;
  return site === mark.site && cluster === mark.cluster;
}

export interface DesiredObject {
  /** `group/Kind/namespace/name` (namespace empty for cluster-scoped or not yet known). */
  key: string;
  object: KubeObject;
  /** Where it came from, for messages: `file:line`. */
  origin: string;
  wave: number;
}

export interface DesiredOptions {
  channel: string;
  rootDigest: string;
  rules: RewriteRules;
  /** The site and cluster the objects are for: labelled on every object, with the owner label. */
  placement?: { site: string; cluster: string };
}

export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

export function objectKey(o: { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } }): string {
  return `${groupOf(o.apiVersion ?? '')}/${o.kind ?? ''}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/** A readable name: `Deployment shop/web`, `Namespace shop`. */
export function describeObject(o: { kind?: string; metadata?: { name?: string; namespace?: string } }): string {
  return `${o.kind ?? '?'} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name ?? '?'}`;
}

export function desiredObjects(documents: ManifestDocument[], opts: DesiredOptions): DesiredObject[] {
  const out: DesiredObject[] = [];
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const doc of documents) {
    const origin = `${doc.file}:${doc.line}`;
    const o = doc.object;
    const missing = [
      typeof o.apiVersion === 'string' && o.apiVersion ? '' : 'apiVersion',
      typeof o.kind === 'string' && o.kind ? '' : 'kind',
      typeof o.metadata?.name === 'string' && o.metadata.name ? '' : 'metadata.name',
    ].filter(Boolean);
    if (missing.length) {
      problems.push(`${origin}: ${describeObject(o)} has no ${missing.join(', ')}`);
      continue;
    }
    const waveText = o.metadata?.annotations?.[WAVE_ANNOTATION];
    const wave = waveText === undefined ? 0 : Number(waveText);
    if (!Number.isInteger(wave)) {
      problems.push(`${origin}: ${describeObject(o)}: annotation ${WAVE_ANNOTATION} "${waveText}" is not a whole number`);
      continue;
    }
    const key = objectKey(o);
    const earlier = seen.get(key);
    if (earlier) {
      problems.push(`${origin}: ${describeObject(o)} is also defined at ${earlier}`);
      continue;
    }
    seen.set(key, origin);
    const object = rewriteObject(o, opts.rules);
    const metadata = { ...(object.metadata ?? {}) };
    metadata.labels = {
      ...(metadata.labels ?? {}),
      [OWNER_LABEL]: opts.channel,
      ...(opts.placement ? { [SITE_LABEL]: opts.placement.site, [CLUSTER_LABEL]: opts.placement.cluster } : {}),
    };
    metadata.annotations = { ...(metadata.annotations ?? {}), [ROOT_ANNOTATION]: opts.rootDigest };
    out.push({ key, object: { ...object, metadata }, origin, wave });
  }
  if (problems.length) throw new AirlockError('MANIFESTS_INVALID', `the bundle's manifests are not valid objects: ${problems.join('; ')}`);
  return out;
}
