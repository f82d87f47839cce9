/**
 * How a chart travels in a bundle (docs/adr/018-charts-and-tools.md): a Helm OCI chart artifact (Helm's config
 * and layer media types, so `helm pull oci://SITE/charts/NAME` reads it) whose manifest carries, in one signed
 * annotation, what airlock needs to template it per placement. Pure.
 */
import { ANNOTATION_CHART_CONFIG, ANNOTATION_CHART_NAME, ANNOTATION_KIND, HELM_CHART_LAYER_MEDIA_TYPE, HELM_CONFIG_MEDIA_TYPE } from '../bundle/format.js';
import { ANNOTATION_REF_NAME, type Descriptor } from '../descriptor.js';
import { AirlockError } from '../errors.js';
import { parseJson } from '../graph.js';
import type { OciIndex } from '../oci-layout.js';
import type { SourceIntent } from '../render/types.js';

export interface ChartSourceConfig extends SourceIntent {
  /** The spec entry's name. */
  name: string;
  /** The chart's own name and resolved version (Chart.yaml). */
  chart: string;
  version: string;
  /** Where it came from (`oci://…`, `https://repo index.yaml#name`, `./charts/web`) and the version as asked. */
  from: string;
  requested?: string;
  namespace: string;
  releaseName: string;
  /** Helm values files in order (valuesFiles, then the entry's values), YAML text with `${…}` references. */
  helmValues: string[];
}

/** The tag Helm gives a chart version in a registry (`+` is not allowed in tags). */
export function chartTag(version: string): string {
  return version.replaceAll('+', '_');
}

/** Where the appliance serves the chart: `charts/NAME:TAG` (pulled as `oci://SITE/charts/NAME --version V`). */
export function chartRefName(chart: string, version: string): string {
  return `charts/${chart}:${chartTag(version)}`;
}

export interface CarriedChart {
  desc: Descriptor;
  config: ChartSourceConfig;
  layer: Descriptor;
}

/** The charts a bundle root lists, with their configs; a malformed one is BUNDLE_CORRUPT. */
export function chartsIn(rootIndex: OciIndex, metadata: (digest: string) => Uint8Array | undefined): CarriedChart[] {
  const out: CarriedChart[] = [];
  for (const d of rootIndex.manifests) {
    if (d.annotations?.[ANNOTATION_KIND] !== 'chart') continue;
    const bytes = metadata(d.digest);
    if (!bytes) throw new AirlockError('BUNDLE_CORRUPT', `the manifest of chart ${d.annotations?.[ANNOTATION_CHART_NAME] ?? d.digest} is not in the bundle`);
    const manifest = parseJson<{ config?: Descriptor; layers?: Descriptor[]; annotations?: Record<string, string> }>(bytes, d.digest);
    const layer = manifest.layers?.find((l) => l.mediaType === HELM_CHART_LAYER_MEDIA_TYPE);
    const text = manifest.annotations?.[ANNOTATION_CHART_CONFIG];
    if (manifest.config?.mediaType !== HELM_CONFIG_MEDIA_TYPE || !layer || !text) {
      throw new AirlockError('BUNDLE_CORRUPT', `chart ${d.annotations?.[ANNOTATION_CHART_NAME] ?? d.digest}: not a Helm chart artifact with airlock's chart config`);
    }
    const config = parseJson<ChartSourceConfig>(Buffer.from(text), `${d.digest} ${ANNOTATION_CHART_CONFIG}`);
    if (typeof config.name !== 'string' || typeof config.chart !== 'string' || typeof config.version !== 'string' || !Array.isArray(config.helmValues)) {
      throw new AirlockError('BUNDLE_CORRUPT', `chart ${d.annotations?.[ANNOTATION_CHART_NAME] ?? d.digest}: its chart config is not valid`);
    }
    out.push({ desc: d, config, layer });
  }
  return out;
}

/** For `bundle inspect`: each chart with its resolved version and where it is served. */
export function chartSummaries(rootIndex: OciIndex, metadata: (digest: string) => Uint8Array | undefined): { name: string; chart: string; version: string; requested?: string; from: string; ref: string; digest: string }[] {
  return chartsIn(rootIndex, metadata).map((c) => ({
    name: c.config.name,
    chart: c.config.chart,
    version: c.config.version,
    ...(c.config.requested ? { requested: c.config.requested } : {}),
    from: c.config.from,
    ref: c.desc.annotations?.[ANNOTATION_REF_NAME] ?? chartRefName(c.config.chart, c.config.version),
    digest: c.desc.digest,
  }));
}
