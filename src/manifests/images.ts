/**
 * The container images a set of Kubernetes objects uses: every container, init container and ephemeral container
 * of Pod templates in Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs. Pure.
 */
import type { KubeObject } from './documents.js';

type PodSpec = Record<string, unknown>;

export function podSpecOf(object: KubeObject): PodSpec | undefined {
  const spec = object.spec as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object') return undefined;
  switch (object.kind) {
    case 'Pod':
      return spec;
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'ReplicationController':
    case 'Job':
      return (spec.template as { spec?: PodSpec } | undefined)?.spec;
    case 'CronJob':
      return ((spec.jobTemplate as { spec?: { template?: { spec?: PodSpec } } } | undefined)?.spec?.template)?.spec;
    default:
      return undefined;
  }
}

export const CONTAINER_FIELDS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

/** Image references used by one object, in order of appearance, without duplicates. */
export function imagesOf(object: KubeObject): string[] {
  const spec = podSpecOf(object);
  if (!spec) return [];
  const images: string[] = [];
  for (const field of CONTAINER_FIELDS) {
    const list = spec[field];
    if (!Array.isArray(list)) continue;
    for (const container of list as { image?: unknown }[]) {
      if (typeof container?.image === 'string' && container.image && !images.includes(container.image)) images.push(container.image);
    }
  }
  return images;
}

export function imagesOfAll(objects: KubeObject[]): string[] {
  const all = new Set<string>();
  for (const o of objects) for (const image of imagesOf(o)) all.add(image);
  return [...all];
}
