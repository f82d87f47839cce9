/**
 * Image references in Pod templates, pointed at the site's registry: `HOST/ORIGINAL-REPOSITORY-PATH:TAG`, pinned
 * `@sha256:…` when the bundle holds the image (so a moved tag can never change what runs). Pure.
 */
import type { KubeObject } from '../manifests/documents.js';
import { CONTAINER_FIELDS, podSpecOf } from '../manifests/images.js';
import { formatReference, parseReference } from '../reference.js';

export interface RewriteRules {
  /** The site registry's host[:port] (the appliance itself, or `--registry`'s host). */
  registry: string;
  /** Digest of each image the bundle holds, keyed by its normalised reference (`docker.io/library/nginx:1.25`). */
  held: ReadonlyMap<string, string>;
}

/** One reference rewritten; an unparseable one is returned as it is (the API server will reject it). */
export function rewriteImage(image: string, rules: RewriteRules): string {
  let ref;
  try {
    ref = parseReference(image);
  } catch {
    return image;
  }
  const digest = ref.digest ?? rules.held.get(formatReference({ registry: ref.registry, repository: ref.repository, ...(ref.tag ? { tag: ref.tag } : {}) }));
  return `${rules.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${digest ? `@${digest}` : ''}`;
}

/** A copy of the object with every container image of its Pod template rewritten. Objects without one are returned as they are. */
export function rewriteObject<T extends KubeObject>(object: T, rules: RewriteRules): T {
  if (!podSpecOf(object)) return object;
  const copy = structuredClone(object);
  const spec = podSpecOf(copy) as Record<string, unknown>;
  for (const field of CONTAINER_FIELDS) {
    const list = spec[field];
    if (!Array.isArray(list)) continue;
    for (const container of list as { image?: unknown }[]) {
      if (typeof container?.image === 'string' && container.image) container.image = rewriteImage(container.image, rules);
    }
  }
  return copy;
}
