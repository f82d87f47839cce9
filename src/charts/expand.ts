/**
 * The chart and Kustomize expander (contract A, docs/adr/018-charts-and-tools.md): before the pure render, each
 * placed chart is templated with `helm template` and each Kustomize source built with `kustomize build`, for one
 * cluster, and returned as plain sources (files = the rendered YAML) keeping name, placement, overrides and values,
 * so substitution, patches, image overrides and everything after run as for any source.
 *
 * Chart values, lowest first: the chart's own values.yaml, the entry's valuesFiles and values; `${name}` references
 * in those take airlock's layered values (spec values, matching overrides in order, site, cluster), strictly and
 * injection-checked as everywhere. `${` in the chart's output is kept as text. A Kustomize source builds its
 * manifests path, or the overlay of the last matching override that names one; `${…}` in its output is then
 * substituted by the render, as Flux does after kustomize. No Helm release Secret is written anywhere. Outputs are
 * kept per expander (a placement re-renders on every sync): helm runs again only when its inputs change.
 */
import { sha256Digest } from '../digest.js';
import { AirlockError } from '../errors.js';
import { layeredValues } from '../render/render.js';
import { matchesSelector } from '../render/selector.js';
import type { SourceExpander } from '../render/expand.js';
import { substituteDocument } from '../render/substitute.js';
import type { RenderSource } from '../render/types.js';
import { escapeReferences, helmTemplate } from './helm.js';
import { kustomizeBuild } from './kustomize.js';
import type { ExpandableSource } from './sources.js';
import type { Tools } from './tools.js';

/** The expander of src/render/expand.ts, under the name the chart code has used. */
export type Expander = SourceExpander;

/** Strips what only the expander needs, so the render sees a plain source. */
function plain(source: ExpandableSource, files: RenderSource['files']): RenderSource {
  const { chart: _chart, kustomize: _kustomize, ...rest } = source;
  return { ...rest, files };
}

/** Renders kept per expander: a placement re-renders its bundle on every sync, mostly with the same inputs. */
const CACHE_ENTRIES = 64;

function remember(cache: Map<string, string>, key: string, value: string): string {
  cache.delete(key);
  cache.set(key, value);
  while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  return value;
}

export function chartExpander(tools: Tools, opts: { tmp?: string } = {}): Expander {
  // Keyed by everything the output depends on: the archive's digest, release, namespace and the values given.
  const charts = new Map<string, string>();
  // Keyed by the tree (the same array while the bundle is held) and the directory built.
  const trees = new WeakMap<object, Map<string, string>>();
  return async (sources, site, cluster) => {
    const labels = { ...site.labels, ...cluster.labels };
    const out: RenderSource[] = [];
    for (const source of sources as ExpandableSource[]) {
      if (!source.chart && !source.kustomize) {
        out.push(source);
        continue;
      }
      // A source this cluster does not get is not expanded (the render leaves it out on the same selector).
      if (!matchesSelector(source.placement?.clusterSelector, labels)) {
        out.push(plain(source, []));
        continue;
      }
      const matching = (source.overrides ?? []).map((o, i) => ({ o, i })).filter(({ o }) => matchesSelector(o.clusterSelector, labels));
      if (source.chart) {
        const { config, archive } = source.chart;
        const label = `chart ${source.name} (${config.chart} ${config.version})`;
        const values = layeredValues(source, matching, site, cluster);
        const files: string[] = [];
        for (const [n, text] of config.helmValues.entries()) {
          const r = substituteDocument(text, values);
          if (r.problems.length) {
            throw new AirlockError('RENDER_FAILED', `${label} on cluster ${cluster.name}: values ${n + 1}: ${r.problems.map((p) => `line ${p.line}: ${p.message}`).join('; ')}`);
          }
          files.push(JSON.stringify(r.object ?? {}));
        }
        const key = sha256Digest(Buffer.from(JSON.stringify([sha256Digest(archive), config.releaseName, config.namespace, files])));
        let rendered = charts.get(key);
        if (rendered === undefined) {
          const helm = await tools.helm(label);
          const text = await helmTemplate(helm, { archive, release: config.releaseName, namespace: config.namespace, values: files, label: `${label} on cluster ${cluster.name}`, ...(opts.tmp ? { tmp: opts.tmp } : {}) });
          rendered = escapeReferences(text);
        }
        out.push(plain(source, [{ path: `${config.chart}-${config.version}.yaml`, text: remember(charts, key, rendered) }]));
      } else if (source.kustomize) {
        const { manifests, overlays, files } = source.kustomize;
        const chosen = matching.map(({ i }) => overlays.find((x) => x.override === i)?.path).filter((p): p is string => !!p);
        const dir = chosen[chosen.length - 1] ?? manifests;
        const label = `git ${source.name}`;
        const cached = trees.get(files) ?? new Map<string, string>();
        trees.set(files, cached);
        let built = cached.get(dir);
        if (built === undefined) {
          const tool = await tools.kustomize(label);
          built = await kustomizeBuild(tool, files, dir, `${label} (${dir})`, opts.tmp);
          cached.set(dir, built);
        }
        out.push(plain(source, [{ path: `${dir.replace(/\/+$/, '')}/(kustomize build)`, text: built }]));
      }
    }
    return out;
  };
}
