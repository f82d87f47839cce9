/**
 * The render (docs/adr/015-values-and-overrides.md): (bundle sources, site, cluster) → the objects that cluster gets, plus an account of which
 * sources were placed, which overrides applied and where each value came from. Pure: the same function runs at
 * headquarters (`airlock render`) and on site. Order per source: placement selector, values substituted in the
 * text, then each matching override's patches and images, in the order written.
 */
import { describeObject } from '../kube/desired.js';
import type { KubeObject, ManifestDocument } from '../manifests/documents.js';
import { labelKeyProblem, labelValueProblem } from '../site/labels.js';
import { applyImageOverride } from './image-override.js';
import { applyPatch } from './json-patch.js';
import { substitutePatchValue } from './patch-values.js';
import { describeSelector, matchesSelector, selectorProblems } from './selector.js';
import { SUBSTITUTE_ANNOTATION, rawObject, splitDocuments, substitutionDisabled } from './documents.js';
import { type ResolvedValue, substituteDocument } from './substitute.js';
import type { Override, RenderSource, Values } from './types.js';

export interface RenderSite {
  name: string;
  labels: Record<string, string>;
  values: Values;
}

export interface RenderCluster {
  name: string;
  labels: Record<string, string>;
  values: Values;
}

export interface SourceAccount {
  kind: RenderSource['kind'];
  name: string;
  placed: boolean;
  selector: string;
  /** Overrides that matched this cluster and were applied, in order (1-based, as written). */
  overrides: { index: number; origin?: string }[];
  /** Values the source's objects used: name, value and where it came from. */
  values: { name: string; value: string; from: string }[];
  objects: number;
}

export interface RenderAccount {
  site: string;
  cluster: string;
  /** The labels selectors matched: the cluster's merged onto its site's. */
  labels: Record<string, string>;
  sources: SourceAccount[];
  warnings: string[];
}

export interface RenderResult {
  ok: boolean;
  /** The objects to apply (empty when the render failed: nothing of a failed placement is applied). */
  documents: ManifestDocument[];
  account: RenderAccount;
  /** Strict errors, each naming file, line, object and what is wrong. */
  errors: string[];
}

function overrideName(o: Override, i: number): string {
  return `override ${i + 1}${o.origin ? ` (${o.origin})` : ''}`;
}

function fileLabel(source: RenderSource, path: string): string {
  return source.kind === 'git' ? `${source.name}:${path}` : `${source.name}/${path}`;
}

/** Values in force for one source on one cluster, lowest precedence first: spec, overrides in order, site, cluster. */
export function layeredValues(source: RenderSource, matching: { o: Override; i: number }[], site: RenderSite, cluster: RenderCluster): Map<string, ResolvedValue> {
  const out = new Map<string, ResolvedValue>();
  const layer = (values: Values | undefined, from: string) => {
    for (const [k, v] of Object.entries(values ?? {})) out.set(k, { value: String(v), from });
  };
  layer(source.values, 'spec');
  for (const { o, i } of matching) layer(o.values, overrideName(o, i));
  layer(site.values, `site ${site.name}`);
  layer(cluster.values, `cluster ${cluster.name}`);
  return out;
}

function sameTarget(o: KubeObject, t: { kind: string; name: string; namespace?: string }): boolean {
  return o.kind === t.kind && o.metadata?.name === t.name && (t.namespace === undefined || (o.metadata?.namespace ?? '') === t.namespace);
}

export function renderCluster(sources: RenderSource[], site: RenderSite, cluster: RenderCluster): RenderResult {
  const labels = { ...site.labels, ...cluster.labels };
  const account: RenderAccount = { site: site.name, cluster: cluster.name, labels, sources: [], warnings: [] };
  const errors: string[] = [];
  for (const [k, v] of Object.entries(labels)) {
    const problem = labelKeyProblem(k) ?? labelValueProblem(v);
    if (problem) errors.push(`cluster ${cluster.name}: ${problem}: selectors cannot match it; fix the site file`);
  }
  const documents: ManifestDocument[] = [];
  for (const source of sources) {
    const what = `${source.kind} ${source.name}`;
    const selectorErrors = [
      ...selectorProblems(source.placement?.clusterSelector, `${what}: placement.clusterSelector`),
      ...(source.overrides ?? []).flatMap((o, i) => selectorProblems(o.clusterSelector, `${what}: ${overrideName(o, i)}: clusterSelector`)),
    ];
    const entry: SourceAccount = { kind: source.kind, name: source.name, placed: false, selector: describeSelector(source.placement?.clusterSelector), overrides: [], values: [], objects: 0 };
    account.sources.push(entry);
    if (selectorErrors.length) {
      errors.push(...selectorErrors);
      continue;
    }
    if (!matchesSelector(source.placement?.clusterSelector, labels)) continue;
    entry.placed = true;
    const matching = (source.overrides ?? []).map((o, i) => ({ o, i })).filter(({ o }) => matchesSelector(o.clusterSelector, labels));
    entry.overrides = matching.map(({ o, i }) => ({ index: i + 1, ...(o.origin ? { origin: o.origin } : {}) }));
    const values = layeredValues(source, matching, site, cluster);
    const used = new Map<string, ResolvedValue>();
    const docs: ManifestDocument[] = [];
    for (const file of source.files) {
      const label = fileLabel(source, file.path);
      for (const d of splitDocuments(file.text)) {
        // The document as written is parsed only when needed: for the opt-out annotation, or to name it in an error.
        const raw = d.text.includes(SUBSTITUTE_ANNOTATION) ? rawObject(d.text) : undefined;
        let object: unknown;
        if (raw && substitutionDisabled(raw)) object = raw;
        else {
          const r = substituteDocument(d.text, values);
          if (r.problems.length) {
            const written = raw ?? rawObject(d.text);
            const name = written ? describeObject(written) : 'a document';
            for (const p of r.problems) errors.push(`${label}:${d.line + p.line - 1}: ${name}: ${p.message}`);
            continue;
          }
          for (const [k, v] of r.used) used.set(k, v);
          object = r.object;
        }
        if (object === null || object === undefined) continue;
        if (typeof object !== 'object' || Array.isArray(object)) {
          errors.push(`${label}:${d.line}: a manifest document must be a mapping`);
          continue;
        }
        const o = object as KubeObject;
        if (o.kind === 'List' && Array.isArray(o.items)) for (const item of o.items as KubeObject[]) docs.push({ file: label, line: d.line, object: item });
        else docs.push({ file: label, line: d.line, object: o });
      }
    }
    for (const { o, i } of matching) {
      const oname = overrideName(o, i);
      for (const patch of o.patches ?? []) {
        const targets = docs.filter((d) => sameTarget(d.object, patch.target));
        const tname = `${patch.target.kind} ${patch.target.namespace ? `${patch.target.namespace}/` : ''}${patch.target.name}`;
        if (!targets.length) {
          account.warnings.push(`${what}: ${oname}: the patch ${patch.op} ${patch.path} targets ${tname}, which is not among its objects`);
          continue;
        }
        const withValues = patch.value === undefined ? { value: undefined, used: new Map<string, ResolvedValue>(), problems: [] } : substitutePatchValue(patch.value, values);
        for (const [k, v] of withValues.used) used.set(k, v);
        if (withValues.problems.length) {
          errors.push(...withValues.problems.map((p) => `${what}: ${oname}: patch ${patch.op} ${patch.path}: ${p}`));
          continue;
        }
        const resolved = patch.value === undefined ? patch : { ...patch, value: withValues.value };
        for (const t of targets) {
          const r = applyPatch(t.object, resolved);
          if ('problem' in r) errors.push(`${t.file}:${t.line}: ${describeObject(t.object)}: ${oname}: patch ${patch.op} ${patch.path}: ${r.problem}`);
          else t.object = r.result;
        }
      }
      for (const image of o.images ?? []) {
        const n = docs.reduce((sum, d) => sum + applyImageOverride(d.object, image), 0);
        if (!n) account.warnings.push(`${what}: ${oname}: the image override for ${image.match} matched no image of its objects`);
      }
    }
    entry.values = [...used].map(([k, v]) => ({ name: k, value: v.value, from: v.from })).sort((a, b) => a.name.localeCompare(b.name));
    entry.objects = docs.length;
    documents.push(...docs);
  }
  return errors.length ? { ok: false, documents: [], account, errors } : { ok: true, documents, account, errors: [] };
}
