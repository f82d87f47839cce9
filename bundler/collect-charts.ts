/**
 * Collects a spec's `charts:` entries (docs/adr/018-charts-and-tools.md): resolves the version (a range against
 * an OCI registry's tags or a chart repository's index.yaml), fetches the archive and checks its digest (airlock's
 * own code), packages a local directory with its dependencies (helm), renders the chart with the spec's values and
 * with each override's to find images and fail here rather than on site, and builds the Helm OCI chart artifact
 * the site registry serves.
 */
import { readFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { jsonBlob, type BuiltBlob } from '../src/bundle/artifact.js';
import { ANNOTATION_CHART_CONFIG, ANNOTATION_CHART_NAME, ANNOTATION_KIND, HELM_CHART_LAYER_MEDIA_TYPE, HELM_CONFIG_MEDIA_TYPE } from '../src/bundle/format.js';
import { type ChartSourceConfig, chartRefName, chartTag } from '../src/charts/format.js';
import { chartMetadata, escapeReferences, helmTemplate } from '../src/charts/helm.js';
import { isExactVersion, maxSatisfying, parseRange, parseVersion, satisfies } from '../src/charts/semver.js';
import { type Tools, ToolError, runTool } from '../src/charts/tools.js';
import { ANNOTATION_REF_NAME, ANNOTATION_TITLE, type Descriptor, MediaType } from '../src/descriptor.js';
import { sha256Digest } from '../src/digest.js';
import { AirlockError, errorMessage, isAirlockError } from '../src/errors.js';
import type { ManifestDocument } from '../src/manifests/documents.js';
import type { OciLayoutStore } from '../src/oci-layout.js';
import { parseReference } from '../src/reference.js';
import type { RegistryAccess } from '../src/registry/access.js';
import { RegistryClient, type FetchFn } from '../src/registry/client.js';
import type { CredentialLookup } from '../src/registry/credentials.js';
import { RegistryRepository } from '../src/registry/repository.js';
import { discoveryDocuments } from '../src/render/discover.js';
import { type ResolvedValue, substituteText } from '../src/render/substitute.js';
import type { Override, Values } from '../src/render/types.js';
import { intentFields } from './collect-manifests.js';
import type { ChartSpec } from './spec.js';

export interface ChartSources {
  tools: Tools;
  access: RegistryAccess;
  baseDir: string;
  specFile: string;
  credentials?: CredentialLookup;
  fetch?: FetchFn;
}

export interface CollectedChart {
  desc: Descriptor;
  metadata: BuiltBlob[];
  config: ChartSourceConfig;
  documents: ManifestDocument[];
}

interface Fetched {
  archive: Buffer;
  from: string;
}

export async function collectChart(spec: ChartSpec, values: Values, scratch: OciLayoutStore, src: ChartSources): Promise<CollectedChart> {
  const label = `chart ${spec.name} (${src.specFile}:${spec.line})`;
  const helm = await src.tools.helm(label);
  const fetched = spec.chart.startsWith('oci://') ? await fromRegistry(spec, label, src) : spec.repo ? await fromRepository(spec, spec.repo, label, src) : await fromDirectory(spec, label, src, scratch.dir);

  const meta = parseYaml(await chartMetadata(helm, fetched.archive, label, scratch.dir)) as { name?: string; version?: string };
  if (typeof meta?.name !== 'string' || typeof meta.version !== 'string') throw new AirlockError('CHART_FAILED', `${label}: the archive's Chart.yaml has no name or version`);
  if (spec.version && !spec.chart.startsWith('oci://') && !spec.repo) {
    const v = parseVersion(meta.version);
    const range = parseRange(spec.version);
    if (!v || !range || !satisfies(v, range)) throw new AirlockError('CHART_FAILED', `${label}: the chart in ${spec.chart} is version ${meta.version}, which does not match version ${spec.version}`);
  }

  const helmValues: string[] = [];
  for (const file of spec.valuesFiles ?? []) {
    helmValues.push(await readFile(resolve(src.baseDir, file), 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new AirlockError('SPEC_INVALID', `${label}: values file ${file} cannot be read (${err.code ?? err.message})`);
    }));
  }
  if (spec.values) helmValues.push(spec.values);
  const config: ChartSourceConfig = {
    name: spec.name,
    chart: meta.name,
    version: meta.version,
    from: fetched.from,
    ...(spec.version && spec.version !== meta.version ? { requested: spec.version } : {}),
    namespace: spec.namespace ?? 'default',
    releaseName: spec.releaseName ?? spec.name,
    helmValues,
    ...intentFields({ ...(spec.placement ? { placement: spec.placement } : {}), ...(spec.overrides ? { overrides: spec.overrides } : {}), values }),
  };

  // Build-time render: the spec's values, then each override's on top; a template or schema error stops the build.
  const documents: ManifestDocument[] = [];
  for (const override of [undefined, ...(spec.overrides ?? [])]) {
    const flat = new Map<string, ResolvedValue>();
    for (const [k, v] of Object.entries({ ...values, ...override?.values })) flat.set(k, { value: v, from: 'spec' });
    const rendered = await helmTemplate(helm, {
      archive: fetched.archive,
      release: config.releaseName,
      namespace: config.namespace,
      values: helmValues.map((t) => substituteText(t, flat).text),
      label: override ? `${label} with ${overrideLabel(override, spec.overrides ?? [])}` : label,
      tmp: scratch.dir,
    });
    documents.push(...discoveryDocuments({ kind: 'manifests', name: `chart ${spec.name}`, files: [{ path: 'rendered.yaml', text: escapeReferences(rendered) }], ...(override ? { overrides: [override] } : {}) }));
  }

  // The Helm OCI chart artifact: Helm's config (Chart.yaml as JSON) and layer, airlock's config in one annotation.
  const layer: Descriptor = { mediaType: HELM_CHART_LAYER_MEDIA_TYPE, digest: sha256Digest(fetched.archive), size: fetched.archive.length, annotations: { [ANNOTATION_TITLE]: `${meta.name}-${meta.version}.tgz` } };
  await scratch.push(layer, Readable.from([fetched.archive]));
  const helmConfig = jsonBlob(HELM_CONFIG_MEDIA_TYPE, meta);
  const manifest = jsonBlob(MediaType.ociManifest, {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: helmConfig.desc,
    layers: [layer],
    annotations: { 'org.opencontainers.image.title': meta.name, 'org.opencontainers.image.version': meta.version, [ANNOTATION_CHART_CONFIG]: JSON.stringify(config) },
  });
  return {
    desc: { ...manifest.desc, annotations: { [ANNOTATION_KIND]: 'chart', [ANNOTATION_CHART_NAME]: spec.name, [ANNOTATION_REF_NAME]: chartRefName(meta.name, meta.version) } },
    metadata: [helmConfig, manifest],
    config,
    documents,
  };
}

function overrideLabel(o: Override, all: Override[]): string {
  return `override ${all.indexOf(o) + 1}${o.origin ? ` (${o.origin})` : ''}`;
}

/** `oci://HOST/REPO/CHART`: tags listed for a range, the manifest and layer read and checked by airlock. */
async function fromRegistry(spec: ChartSpec, label: string, src: ChartSources): Promise<Fetched> {
  const ref = parseReference(spec.chart.slice('oci://'.length));
  const plainHttp = src.access.plainHttpFor(ref.registry);
  const client = new RegistryClient({
    registry: ref.registry,
    ...(plainHttp !== undefined ? { plainHttp } : {}),
    transport: src.access.transportFor(ref.registry),
    ...(src.credentials ? { credentials: src.credentials } : {}),
    ...(src.fetch ? { fetch: src.fetch } : {}),
  });
  const where = `oci://${ref.registry}/${ref.repository}`;
  const wanted = spec.version ?? '';
  try {
    let tag = chartTag(wanted);
    if (!isExactVersion(wanted)) {
      const res = await client.request('GET', `/v2/${ref.repository}/tags/list?n=10000`, { scopes: [`repository:${ref.repository}:pull`], accept: [404], what: `chart ${where}` });
      if (res.status === 404) throw new AirlockError('CHART_FAILED', `${label}: ${where} was not found`);
      const tags = ((await res.json()) as { tags?: string[] | null }).tags ?? [];
      const versions = tags.map((t) => t.replaceAll('_', '+'));
      const best = maxSatisfying(versions, wanted);
      if (!best) throw new AirlockError('CHART_FAILED', `${label}: no version of ${where} matches ${wanted} (it has: ${versions.slice(0, 20).join(', ') || 'none'})`);
      tag = chartTag(best);
    }
    const repo = new RegistryRepository(client, ref.repository);
    const { bytes } = await repo.getManifest(tag);
    const manifest = JSON.parse(bytes.toString('utf8')) as { config?: Descriptor; layers?: Descriptor[] };
    const layer = manifest.layers?.find((l) => l.mediaType === HELM_CHART_LAYER_MEDIA_TYPE);
    if (manifest.config?.mediaType !== HELM_CONFIG_MEDIA_TYPE || !layer) throw new AirlockError('CHART_FAILED', `${label}: ${where}:${tag} is not a Helm chart (no ${HELM_CHART_LAYER_MEDIA_TYPE} layer)`);
    const chunks: Buffer[] = [];
    for await (const c of await repo.fetch(layer)) chunks.push(c as Buffer);
    const archive = Buffer.concat(chunks);
    if (sha256Digest(archive) !== layer.digest) throw new AirlockError('DIGEST_MISMATCH', `${label}: the chart archive from ${where}:${tag} has digest ${sha256Digest(archive)}, its manifest says ${layer.digest}`);
    return { archive, from: `${where}:${tag}` };
  } catch (err) {
    if (isAirlockError(err, 'CHART_FAILED') || isAirlockError(err, 'DIGEST_MISMATCH')) throw err;
    if (isAirlockError(err, 'MANIFEST_UNKNOWN') || isAirlockError(err, 'NOT_FOUND')) throw new AirlockError('CHART_FAILED', `${label}: ${where} version ${wanted} was not found`, { cause: err });
    throw new AirlockError(isAirlockError(err) ? err.code : 'REGISTRY_ERROR', `${label}: ${errorMessage(err)}`, { cause: err });
  }
}

interface IndexEntry { version?: string; urls?: string[]; digest?: string }

/** A chart repository: index.yaml read, the version chosen, the archive checked against the index's digest. */
async function fromRepository(spec: ChartSpec, repo: string, label: string, src: ChartSources): Promise<Fetched> {
  const doFetch = src.fetch ?? fetch;
  const base = repo.endsWith('/') ? repo : `${repo}/`;
  const get = async (url: string, what: string): Promise<Buffer> => {
    let res: Response;
    try {
      res = await doFetch(url, { redirect: 'follow' });
    } catch (err) {
      throw new AirlockError('REGISTRY_UNREACHABLE', `${label}: cannot reach ${url}: ${errorMessage((err as Error).cause ?? err)}`);
    }
    if (res.status === 404) throw new AirlockError('CHART_FAILED', `${label}: ${what} was not found (${url} answered 404)`);
    if (!res.ok) throw new AirlockError('REGISTRY_ERROR', `${label}: ${url} answered ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  };
  const indexUrl = new URL('index.yaml', base).toString();
  let index: { entries?: Record<string, IndexEntry[]> };
  try {
    index = parseYaml((await get(indexUrl, `the chart repository ${repo}`)).toString('utf8')) as typeof index;
  } catch (err) {
    if (isAirlockError(err)) throw err;
    throw new AirlockError('CHART_FAILED', `${label}: ${indexUrl} is not a chart repository index: ${errorMessage(err)}`);
  }
  const entries = index?.entries?.[spec.chart];
  if (!entries?.length) throw new AirlockError('CHART_FAILED', `${label}: chart ${spec.chart} was not found in ${indexUrl}`);
  const versions = entries.map((e) => String(e.version ?? ''));
  const wanted = spec.version ?? '';
  const best = isExactVersion(wanted) ? versions.find((v) => v === wanted || v === wanted.replace(/^v/, '')) : maxSatisfying(versions, wanted);
  if (!best) throw new AirlockError('CHART_FAILED', `${label}: no version of ${spec.chart} in ${repo} matches ${wanted} (it has: ${versions.slice(0, 20).join(', ')})`);
  const entry = entries.find((e) => String(e.version) === best);
  const url = entry?.urls?.[0];
  if (!entry || !url) throw new AirlockError('CHART_FAILED', `${label}: ${spec.chart} ${best} in ${indexUrl} lists no download URL`);
  if (!entry.digest || !/^[a-f0-9]{64}$/.test(entry.digest)) throw new AirlockError('CHART_FAILED', `${label}: ${spec.chart} ${best} in ${indexUrl} has no sha256 digest to check the archive against`);
  const archiveUrl = new URL(url, base).toString();
  const archive = await get(archiveUrl, `${spec.chart} ${best}`);
  const got = sha256Digest(archive);
  if (got !== `sha256:${entry.digest}`) throw new AirlockError('DIGEST_MISMATCH', `${label}: the archive ${archiveUrl} has digest ${got}, but ${indexUrl} says sha256:${entry.digest}; the repository changed or the download was altered`);
  return { archive, from: `${repo} ${spec.chart}` };
}

/** A local chart directory: dependencies built (helm dependency build) when it lists any, then `helm package`. */
async function fromDirectory(spec: ChartSpec, label: string, src: ChartSources, tmp: string): Promise<Fetched> {
  const dir = resolve(src.baseDir, spec.chart);
  const chartYaml = await readFile(join(dir, 'Chart.yaml'), 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new AirlockError('CHART_FAILED', `${label}: ${spec.chart} is not a chart directory (${join(spec.chart, 'Chart.yaml')}: ${err.code ?? err.message})`);
  });
  const helm = await src.tools.helm(label);
  const out = await mkdtemp(join(tmp, 'package-'));
  try {
    const deps = (parseYaml(chartYaml) as { dependencies?: unknown[] } | null)?.dependencies;
    if (Array.isArray(deps) && deps.length) await runTool(helm, ['dependency', 'build', dir]);
    await runTool(helm, ['package', dir, '--destination', out]);
    const [file] = (await readdir(out)).filter((f) => f.endsWith('.tgz'));
    if (!file) throw new AirlockError('CHART_FAILED', `${label}: helm package wrote no archive`);
    const path = join(out, file);
    if (!(await stat(path)).isFile()) throw new AirlockError('CHART_FAILED', `${label}: helm package wrote no archive`);
    return { archive: await readFile(path), from: spec.chart };
  } catch (err) {
    if (err instanceof ToolError) throw new AirlockError('CHART_FAILED', `${label}: ${err.message}`);
    throw err;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
