/**
 * A placement's objects as a tree of files (the rendered branches, docs/adr/017-rendered-branches.md): one file
 * per object, `NAMESPACE/KIND[.GROUP]_NAME.yaml` (objects without a namespace at the top), keys sorted, so the same
 * objects give the same bytes whatever order they were built in. Pure.
 */
import { groupOf } from '../kube/desired.js';
import type { KubeObject } from '../manifests/documents.js';
import { emitYaml } from '../yaml-emit.js';

export interface TreeFile {
  path: string;
  text: string;
}

/** Characters a path segment keeps; anything else (never in a valid Kubernetes name) becomes `-`. */
const safe = (s: string) => s.replace(/[^A-Za-z0-9.-]/g, '-');

/**
 * The file of one object. Kind and group hold no `_`, names no `_` either (DNS subdomains), so no two objects share
 * a path; namespaces (DNS labels) never start with `.`, so no directory is hidden.
 */
export function objectPath(o: KubeObject): string {
  const group = groupOf(o.apiVersion ?? '');
  const file = `${safe(o.kind ?? '')}${group ? `.${safe(group)}` : ''}_${safe(o.metadata?.name ?? '')}.yaml`;
  const ns = o.metadata?.namespace;
  return ns ? `${safe(ns)}/${file}` : file;
}

/** Stable YAML: keys sorted at every level, no folded lines. */
export function stableYaml(o: unknown): string {
  return emitYaml(o, { sortKeys: true });
}

/** The tree of a placement's objects, sorted by path. */
export function objectFiles(objects: KubeObject[]): TreeFile[] {
  return objects.map((o) => ({ path: objectPath(o), text: stableYaml(o) })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
