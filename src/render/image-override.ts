/** Image overrides (Karmada-style): replace registry, repository and/or tag of matching container images. Pure. */
import type { KubeObject } from '../manifests/documents.js';
import { CONTAINER_FIELDS, podSpecOf } from '../manifests/images.js';
import { formatReference, parseReference } from '../reference.js';
import type { ImageOverride } from './types.js';

/** The normalised name (`docker.io/library/nginx`) of a reference, or undefined when it does not parse. */
export function imageName(ref: string): string | undefined {
  try {
    const r = parseReference(ref);
    return `${r.registry}/${r.repository}`;
  } catch {
    return undefined;
  }
}

/** The reference with the override applied; the digest is dropped when the repository or tag changes. */
export function overrideImage(ref: string, o: ImageOverride): string {
  const r = parseReference(ref);
  const registry = o.registry ?? r.registry;
  const repository = o.repository ?? r.repository;
  const tag = o.tag ?? r.tag;
  const keepDigest = r.digest && o.repository === undefined && o.tag === undefined && o.registry === undefined;
  return formatReference({ registry, repository, ...(tag ? { tag } : {}), ...(keepDigest && r.digest ? { digest: r.digest } : {}) });
}

/** Applies the override to the object's Pod template in place; returns how many images it changed. */
export function applyImageOverride(object: KubeObject, o: ImageOverride): number {
  const spec = podSpecOf(object);
  const want = imageName(o.match);
  if (!spec || !want) return 0;
  let n = 0;
  for (const field of CONTAINER_FIELDS) {
    const list = spec[field];
    if (!Array.isArray(list)) continue;
    for (const c of list as { image?: unknown }[]) {
      if (typeof c?.image !== 'string' || imageName(c.image) !== want) continue;
      c.image = overrideImage(c.image, o);
      n++;
    }
  }
  return n;
}
