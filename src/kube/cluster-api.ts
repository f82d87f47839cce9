/**
 * What sync, check and prune need of a cluster: discovery of a kind's resource, GET, server-side apply (with dry
 * run and force) and DELETE. The real client is appliance/reconcile/cluster.ts; unit tests use an in-memory fake
 * (test/helpers/fake-cluster.ts). Failures are AirlockErrors: KUBE_CONFLICT (409), KUBE_INVALID (400/422),
 * KUBE_ERROR (other statuses), KUBE_UNREACHABLE (no answer).
 */
import type { KubeObject } from '../manifests/documents.js';

export interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

export type LiveObject = KubeObject & {
  status?: Record<string, unknown>;
  metadata?: KubeObject['metadata'] & { generation?: number; uid?: string; deletionTimestamp?: string };
};

export interface ApplyOptions {
  dryRun?: boolean;
  force?: boolean;
}

export interface ClusterApi {
  /** The API server's address, for messages and status. */
  readonly server: string;
  /** Object requests sent (discovery is not counted): reads are GETs, writes the rest. */
  readonly requests: { read: number; write: number };
  /** The resource serving `kind` in `apiVersion`; undefined when the cluster has no such kind. */
  resource(apiVersion: string, kind: string): Promise<ResourceInfo | undefined>;
  /** Drops what discovery learned of `apiVersion` (after a CRD is established). */
  forget(apiVersion: string): void;
  /** Server-side apply with field manager `airlock`. */
  apply(object: KubeObject, opts?: ApplyOptions): Promise<LiveObject>;
  /** The live object, or undefined when there is none. */
  get(object: KubeObject): Promise<LiveObject | undefined>;
  /** Deletes (background propagation); an object already gone is not an error. */
  delete(object: KubeObject): Promise<void>;
  /** Closes idle connections. */
  close(): void;
}
