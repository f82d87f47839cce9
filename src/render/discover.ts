/**
 * The bundler's view of a source for finding images: its objects with the spec's values (and, in turn, each
 * override's values and images on top), so that an image an override or a value names travels in the bundle.
 * Lenient where the render is strict: a reference only a site can fill stays as written, and an image that still
 * holds one is left out (list it under `images:`). Pure.
 */
import type { KubeObject, ManifestDocument } from '../manifests/documents.js';
import { CONTAINER_FIELDS, podSpecOf } from '../manifests/images.js';
import { rawObject, splitDocuments, substitutionDisabled } from './documents.js';
import { applyImageOverride } from './image-override.js';
import { type ResolvedValue, substituteText } from './substitute.js';
import type { Override, RenderSource } from './types.js';

function variantDocuments(source: RenderSource, override: Override | undefined, label: (path: string) => string): ManifestDocument[] {
  const values = new Map<string, ResolvedValue>();
  for (const [k, v] of Object.entries({ ...source.values, ...override?.values })) values.set(k, { value: v, from: 'spec' });
  const out: ManifestDocument[] = [];
  for (const file of source.files) {
    for (const d of splitDocuments(file.text)) {
      const raw = rawObject(d.text);
      const object = raw && substitutionDisabled(raw) ? raw : rawObject(substituteText(d.text, values).text);
      if (!object) continue;
      const objects = object.kind === 'List' && Array.isArray(object.items) ? (object.items as KubeObject[]) : [object];
      for (const o of objects) {
        for (const image of override?.images ?? []) applyImageOverride(o, image);
        dropUnresolved(o);
        out.push({ file: label(file.path), line: d.line, object: o });
      }
    }
  }
  return out;
}

/** Removes images that still hold a `${…}` reference (only a site can resolve them). */
function dropUnresolved(o: KubeObject): void {
  const spec = podSpecOf(o);
  if (!spec) return;
  for (const field of CONTAINER_FIELDS) {
    const list = spec[field];
    if (!Array.isArray(list)) continue;
    for (const c of list as { image?: unknown }[]) if (typeof c?.image === 'string' && c.image.includes('${')) delete c.image;
  }
}

/** Every variant's objects (spec values alone, then each override on top), for image discovery. */
export function discoveryDocuments(source: RenderSource): ManifestDocument[] {
  const label = (path: string) => (source.kind === 'git' ? `${source.name}:${path}` : `${source.name}/${path}`);
  return [undefined, ...(source.overrides ?? [])].flatMap((o) => variantDocuments(source, o, label));
}
