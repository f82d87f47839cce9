/**
 * Where an object lives in the API: `/api/v1[/namespaces/NS]/PLURAL[/NAME]` for the core group,
 * `/apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME]` otherwise. As @kubernetes/client-node 1.x's `specUriPath` had
 * it: no apiVersion means `v1`, a namespaced object without a namespace goes to `default` (the library's default; a
 * kubeconfig context's namespace was not used), namespace and name are URI-component encoded. Unlike the library
 * the path is not lower-cased (a ClusterRole may be named `Admin`; the library sent it to `.../admin`). Pure. ADR 023.
 */
import type { ResourceInfo } from '../../src/kube/cluster-api.js';
import type { KubeObject } from '../../src/manifests/documents.js';

export const DEFAULT_NAMESPACE = 'default';

/** The discovery path of an apiVersion. */
export function apiVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** The object's path; throws a plain Error when it has no name. */
export function objectPath(object: KubeObject, resource: ResourceInfo): string {
  const name = object.metadata?.name;
  if (!name) throw new Error('the object has no metadata.name');
  const namespace = resource.namespaced ? object.metadata?.namespace || DEFAULT_NAMESPACE : undefined;
  return `${apiVersionPath(object.apiVersion || 'v1')}${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${resource.plural}/${encodeURIComponent(name)}`;
}
