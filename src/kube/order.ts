/** The order objects are applied in, and pruned in. Pure. */
import type { DesiredObject } from './desired.js';

const FIRST: Record<string, number> = { Namespace: 0, CustomResourceDefinition: 1 };

/** Namespaces, then CustomResourceDefinitions, then the rest by sync wave, kind, namespace and name. */
export function applyOrder(objects: DesiredObject[]): DesiredObject[] {
  const rank = (d: DesiredObject) => FIRST[d.object.kind ?? ''] ?? 2;
  return [...objects].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      a.wave - b.wave ||
      cmp(a.object.kind, b.object.kind) ||
      cmp(a.object.metadata?.namespace, b.object.metadata?.namespace) ||
      cmp(a.object.metadata?.name, b.object.metadata?.name),
  );
}

export interface PruneCandidate {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/** Workloads and everything else first, then CustomResourceDefinitions, Namespaces last. */
export function pruneOrder<T extends PruneCandidate>(objects: T[]): T[] {
  const rank = (o: T) => (o.kind === 'Namespace' ? 2 : o.kind === 'CustomResourceDefinition' ? 1 : 0);
  return [...objects].sort((a, b) => rank(a) - rank(b) || cmp(a.kind, b.kind) || cmp(a.namespace, b.namespace) || cmp(a.name, b.name));
}

function cmp(a: string | undefined, b: string | undefined): number {
  return (a ?? '').localeCompare(b ?? '');
}
