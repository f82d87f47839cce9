/**
 * What a bundle source carries for placement (docs/adr/015-values-and-overrides.md): a cluster selector, ordered
 * overrides and default values. Recorded in the signed config of each manifest-set and Git artifact; absent means
 * every cluster, no overrides, no defaults (bundles from before placements read that way).
 */

export type Values = Record<string, string>;

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** A Kubernetes LabelSelector. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: SelectorOperator; values?: string[] }[];
}

/** One RFC 6902 operation on the objects its target names. */
export interface PatchOp {
  target: { kind: string; name: string; namespace?: string };
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

/** Replaces registry, repository and/or tag of the container images whose reference `match` names. */
export interface ImageOverride {
  /** An image name without tag or digest (`nginx`, `ghcr.io/acme/web`): matched after normalising. */
  match: string;
  registry?: string;
  repository?: string;
  tag?: string;
}

export interface Override {
  /** Where it was written (`airlock.yaml:14`), for messages. */
  origin?: string;
  /** No selector: every cluster the source is placed on. */
  clusterSelector?: LabelSelector;
  values?: Values;
  patches?: PatchOp[];
  images?: ImageOverride[];
}

/** The placement intent a source carries in its signed config. */
export interface SourceIntent {
  placement?: { clusterSelector?: LabelSelector };
  overrides?: Override[];
  /** The spec's `values`: the lowest-precedence defaults. */
  values?: Values;
}

/** One source of a bundle as plain data: its YAML files (text, as carried) and its intent. */
export interface RenderSource extends SourceIntent {
  /** `chart`: a Helm chart, expanded to its rendered YAML before the render (src/charts/expand.ts). */
  kind: 'manifests' | 'git' | 'chart';
  name: string;
  files: { path: string; text: string }[];
}
