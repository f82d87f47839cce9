/**
 * The bundle spec file (`airlock.yaml`, docs/spec.md). Validation happens here, at the boundary: unknown fields, missing
 * required ones, malformed references and durations are reported with the file and line.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { Document, LineCounter, type Node, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { AirlockError } from '../src/errors.js';
import { parseReference } from '../src/reference.js';
import type { RegistrySettings } from '../src/registry/access.js';
import { LIFETIME_RANGE, boundedDuration } from '../src/units.js';
import { checkOverride, checkSelector, checkValues } from '../src/render/intent.js';
import type { Override, SourceIntent, Values } from '../src/render/types.js';
import { parseRange } from '../src/charts/semver.js';

export interface ImageSpec {
  ref: string;
  platforms?: string[];
  line: number;
}

/** A source's placement and overrides (docs/adr/015-values-and-overrides.md); recorded in its signed config. */
export type SourceIntentSpec = Pick<SourceIntent, 'placement' | 'overrides'>;

export interface ManifestsSpec extends SourceIntentSpec {
  path: string;
  line: number;
}

export interface GitSpec extends SourceIntentSpec {
  name: string;
  url: string;
  ref: string;
  manifests?: string;
  /**
   * Kustomize: an override's `overlay` (a directory in the repository) replaces the manifests path for the
   * clusters it matches; the last matching one wins. Keyed by the override's index.
   */
  overlays?: { override: number; path: string }[];
  line: number;
}

/** A `charts:` entry (docs/adr/018-charts-and-tools.md): where the chart comes from and how it is templated. */
export interface ChartSpec extends SourceIntentSpec {
  name: string;
  /** `oci://HOST/REPO/CHART`, a chart name in `repo`, or a local directory (relative to the spec). */
  chart: string;
  /** A chart repository (`https://…`, read through its index.yaml). */
  repo?: string;
  /** An exact version or a semver range; resolved at build time. */
  version?: string;
  namespace?: string;
  releaseName?: string;
  /** Helm values as YAML text (quoting kept, so `"${tag}"` stays a string); `${name}` takes the layered airlock values. */
  values?: string;
  valuesFiles?: string[];
  line: number;
}

export interface BundleSpec {
  file: string;
  baseDir: string;
  name: string;
  channel: string;
  expires?: string;
  /** `trustRoot: FILE`: the next trust root (root.json), carried in the signed statement (ADR 010). */
  trustRoot?: { path: string; line: number };
  discoverImages: boolean;
  images: ImageSpec[];
  git: GitSpec[];
  manifests: ManifestsSpec[];
  charts: ChartSpec[];
  /** The spec's `values`: defaults for every source, below overrides, site and cluster values. */
  values: Values;
  registries: Record<string, RegistrySettings>;
}

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'expires', 'trustRoot', 'discoverImages', 'images', 'git', 'manifests', 'charts', 'values', 'registries'];
const NAME_RE = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
const CHART_FIELDS = ['name', 'chart', 'repo', 'version', 'namespace', 'releaseName', 'values', 'valuesFiles', 'placement', 'overrides'];
const PLATFORM_RE = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;

export async function loadSpec(file: string): Promise<BundleSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new AirlockError('SPEC_INVALID', `cannot read spec file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseSpec(text, file);
}

export function parseSpec(text: string, file: string): BundleSpec {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (node: Node | null | undefined): number => (node?.range ? lineCounter.linePos(node.range[0]).line : 1);
  const fail = (node: Node | null | undefined, message: string): never => {
    throw new AirlockError('SPEC_INVALID', `${file}:${lineOf(node)}: ${message}`);
  };
  const firstError = doc.errors[0];
  if (firstError) throw new AirlockError('SPEC_INVALID', `${file}:${lineCounter.linePos(firstError.pos[0]).line}: invalid YAML: ${firstError.message.split('\n')[0]}`);

  const root = doc.contents;
  if (!isMap(root)) return fail(root, 'the spec must be a mapping with apiVersion, kind and metadata');
  const fields = mapFields(root, TOP_FIELDS, 'the spec', fail);

  const apiVersion = scalarString(fields.apiVersion, 'apiVersion', fail, root);
  if (apiVersion !== 'airlock.dev/v1') fail(fields.apiVersion ?? root, `apiVersion must be airlock.dev/v1, not "${apiVersion}"`);
  const kind = scalarString(fields.kind, 'kind', fail, root);
  if (kind !== 'Bundle') fail(fields.kind ?? root, `kind must be Bundle, not "${kind}"`);

  const metaNode = fields.metadata;
  if (!isMap(metaNode)) return fail(metaNode ?? root, 'metadata is required and must be a mapping with a name');
  const meta = mapFields(metaNode, ['name', 'channel'], 'metadata', fail);
  const name = scalarString(meta.name, 'metadata.name', fail, metaNode);
  if (!NAME_RE.test(name)) fail(meta.name, `metadata.name "${name}" must be lowercase letters, digits, '.', '_' or '-' (at most 63)`);
  const channel = meta.channel ? scalarString(meta.channel, 'metadata.channel', fail, metaNode) : 'stable';
  if (!NAME_RE.test(channel)) fail(meta.channel, `metadata.channel "${channel}" must be lowercase letters, digits, '.', '_' or '-'`);

  let expires: string | undefined;
  if (fields.expires) {
    expires = scalarString(fields.expires, 'expires', fail, root);
    const lifetime = boundedDuration(expires, 'expires', LIFETIME_RANGE);
    if (lifetime instanceof Error) fail(fields.expires, lifetime.message);
  }

  const trustRoot = fields.trustRoot ? { path: scalarString(fields.trustRoot, 'trustRoot', fail, root), line: lineOf(fields.trustRoot) } : undefined;

  let discoverImages = true;
  if (fields.discoverImages) {
    const v = isScalar(fields.discoverImages) ? fields.discoverImages.value : undefined;
    if (typeof v !== 'boolean') fail(fields.discoverImages, 'discoverImages must be true or false');
    discoverImages = v as boolean;
  }

  const images: ImageSpec[] = [];
  for (const item of seqItems(fields.images, 'images', fail)) {
    if (isScalar(item)) {
      const ref = scalarString(item, 'an image', fail, item);
      checkImageRef(ref, item, fail);
      images.push({ ref, line: lineOf(item) });
    } else if (isMap(item)) {
      const f = mapFields(item, ['ref', 'platforms'], 'an image', fail);
      const ref = scalarString(f.ref, 'images[].ref', fail, item);
      checkImageRef(ref, f.ref ?? item, fail);
      const platforms = f.platforms ? seqItems(f.platforms, 'platforms', fail).map((p) => {
        const value = scalarString(p, 'a platform', fail, p);
        if (!PLATFORM_RE.test(value)) fail(p, `platform "${value}" must look like linux/amd64 or linux/arm64/v8`);
        return value;
      }) : undefined;
      images.push({ ref, ...(platforms?.length ? { platforms } : {}), line: lineOf(item) });
    } else {
      fail(item, 'an image is a reference string or a mapping with ref and platforms');
    }
  }

  const git: GitSpec[] = [];
  for (const item of seqItems(fields.git, 'git', fail)) {
    if (!isMap(item)) return fail(item, 'a git entry is a mapping with name, url and ref');
    const f = mapFields(item, ['name', 'url', 'ref', 'manifests', 'placement', 'overrides'], 'a git entry', fail);
    const gname = scalarString(f.name, 'git[].name', fail, item);
    if (!NAME_RE.test(gname)) fail(f.name, `git name "${gname}" must be lowercase letters, digits, '.', '_' or '-'`);
    if (git.some((g) => g.name === gname)) fail(f.name, `git name "${gname}" is used twice`);
    const overlays: { override: number; path: string }[] = [];
    git.push({
      name: gname,
      url: scalarString(f.url, 'git[].url', fail, item),
      ref: f.ref ? scalarString(f.ref, 'git[].ref', fail, item) : 'HEAD',
      ...(f.manifests ? { manifests: scalarString(f.manifests, 'git[].manifests', fail, item) } : {}),
      ...intentOf(f, `git ${gname}`, overlays),
      ...(overlays.length ? { overlays } : {}),
      line: lineOf(item),
    });
  }

  /** `placement` and `overrides` of a manifests or git entry, each problem with its line. */
  /** With `overlays` (git entries), an override may hold `overlay: PATH`, collected there. */
  function intentOf(f: Record<string, Node | undefined>, what: string, overlays?: { override: number; path: string }[]): SourceIntentSpec {
    const out: SourceIntentSpec = {};
    if (f.placement) {
      if (!isMap(f.placement)) fail(f.placement, `${what}: placement must be a mapping with clusterSelector`);
      const pf = mapFields(f.placement, ['clusterSelector'], `${what}: placement`, fail);
      const problems: string[] = [];
      const clusterSelector = checkSelector(pf.clusterSelector?.toJSON(), 'placement.clusterSelector', problems);
      if (problems.length) fail(pf.clusterSelector, `${what}: ${problems.join('; ')}`);
      if (clusterSelector) out.placement = { clusterSelector };
    }
    if (f.overrides) {
      const overrides: Override[] = [];
      seqItems(f.overrides, `${what}: overrides`, fail).forEach((node, i) => {
        const problems: string[] = [];
        let raw: unknown = node.toJSON();
        if (overlays && raw && typeof raw === 'object' && 'overlay' in raw) {
          const { overlay, ...rest } = raw as Record<string, unknown>;
          if (typeof overlay !== 'string' || !overlay || overlay.startsWith('/') || overlay.split('/').includes('..')) {
            fail(node, `${what}: overrides[${i}].overlay must be a directory inside the repository (such as overlays/small)`);
          }
          overlays.push({ override: i, path: overlay as string });
          raw = rest;
        }
        const o = checkOverride(raw, `overrides[${i}]`, problems, `${basename(file)}:${lineOf(node)}`);
        if (problems.length) fail(node, `${what}: ${problems.join('; ')}`);
        if (o) overrides.push(o);
      });
      if (overrides.length) out.overrides = overrides;
    }
    return out;
  }

  const manifests: ManifestsSpec[] = seqItems(fields.manifests, 'manifests', fail).map((item) => {
    if (isScalar(item)) return { path: scalarString(item, 'a manifests path', fail, item), line: lineOf(item) };
    if (!isMap(item)) return fail(item, 'a manifests entry is a path, or a mapping with path, placement and overrides');
    const f = mapFields(item, ['path', 'placement', 'overrides'], 'a manifests entry', fail);
    const path = scalarString(f.path, 'manifests[].path', fail, item);
    return { path, ...intentOf(f, `manifests ${path}`), line: lineOf(item) };
  });

  const charts: ChartSpec[] = [];
  for (const item of seqItems(fields.charts, 'charts', fail)) {
    if (!isMap(item)) return fail(item, 'a charts entry is a mapping with name, chart and version');
    const f = mapFields(item, CHART_FIELDS, 'a charts entry', fail);
    const cname = scalarString(f.name, 'charts[].name', fail, item);
    if (!NAME_RE.test(cname)) fail(f.name, `chart name "${cname}" must be lowercase letters, digits, '.', '_' or '-'`);
    if (charts.some((c) => c.name === cname)) fail(f.name, `chart name "${cname}" is used twice`);
    const chart = scalarString(f.chart, `chart ${cname}: chart`, fail, item);
    const repo = f.repo ? scalarString(f.repo, `chart ${cname}: repo`, fail, item) : undefined;
    if (repo && !/^https?:\/\/[^/]/.test(repo)) fail(f.repo, `chart ${cname}: repo "${repo}" must be a chart repository URL (https://…)`);
    if (repo && (chart.includes('/') || chart.startsWith('oci:'))) fail(f.chart, `chart ${cname}: with repo, chart is the chart's name in that repository, not "${chart}"`);
    if (chart.startsWith('oci://')) {
      try {
        parseReference(chart.slice('oci://'.length));
      } catch (err) {
        fail(f.chart, `chart ${cname}: "${chart}" must be oci://HOST/REPO/CHART (${(err as Error).message})`);
      }
      if (/[:@][^/]*$/.test(chart.slice('oci://'.length).replace(/^[^/]*/, ''))) fail(f.chart, `chart ${cname}: give the version in version:, not in the reference "${chart}"`);
    }
    const version = f.version ? scalarString(f.version, `chart ${cname}: version`, fail, item) : undefined;
    if ((repo || chart.startsWith('oci://')) && !version) fail(item, `chart ${cname}: version is required (an exact version or a range such as ^1.2)`);
    if (version && !parseRange(version)) fail(f.version, `chart ${cname}: version "${version}" is neither a version nor a range (e.g. 1.2.3, ^1.2, ~1.2.0, >=1.0 <2)`);
    const namespace = f.namespace ? scalarString(f.namespace, `chart ${cname}: namespace`, fail, item) : undefined;
    if (namespace && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) fail(f.namespace, `chart ${cname}: namespace "${namespace}" is not a valid Kubernetes namespace`);
    const releaseName = f.releaseName ? scalarString(f.releaseName, `chart ${cname}: releaseName`, fail, item) : undefined;
    if (releaseName && !/^[a-z0-9]([-a-z0-9.]{0,51}[a-z0-9])?$/.test(releaseName)) fail(f.releaseName, `chart ${cname}: releaseName "${releaseName}" must be lowercase letters, digits, '-' or '.' (at most 53)`);
    let chartValues: string | undefined;
    if (f.values && !(isScalar(f.values) && f.values.value === null)) {
      if (!isMap(f.values)) fail(f.values, `chart ${cname}: values must be a mapping (Helm values)`);
      const d = new Document();
      d.contents = f.values;
      chartValues = d.toString();
    }
    const valuesFiles = seqItems(f.valuesFiles, `chart ${cname}: valuesFiles`, fail).map((n) => scalarString(n, 'a values file', fail, n));
    charts.push({
      name: cname,
      chart,
      ...(repo ? { repo } : {}),
      ...(version ? { version } : {}),
      ...(namespace ? { namespace } : {}),
      ...(releaseName ? { releaseName } : {}),
      ...(chartValues ? { values: chartValues } : {}),
      ...(valuesFiles.length ? { valuesFiles } : {}),
      ...intentOf(f, `chart ${cname}`),
      line: lineOf(item),
    });
  }

  const valueProblems: string[] = [];
  const values = checkValues(fields.values?.toJSON(), 'values', valueProblems) ?? {};
  if (valueProblems.length) fail(fields.values, valueProblems.join('; '));

  const registries: Record<string, RegistrySettings> = {};
  if (fields.registries) {
    if (!isMap(fields.registries)) return fail(fields.registries, 'registries must be a mapping of host to settings');
    for (const pair of fields.registries.items) {
      const host = String(isScalar(pair.key) ? pair.key.value : '');
      if (!isMap(pair.value)) return fail(pair.key as Node, `registries."${host}" must be a mapping like { plainHttp: true } or { cacert: ca.pem }`);
      const f = mapFields(pair.value, ['plainHttp', 'cacert', 'insecure'], `registries."${host}"`, fail);
      const flag = (name: 'plainHttp' | 'insecure'): boolean | undefined => {
        const node = f[name];
        const value = node && isScalar(node) ? node.value : undefined;
        if (node && typeof value !== 'boolean') fail(node, `${name} must be true or false`);
        return value as boolean | undefined;
      };
      const plain = flag('plainHttp');
      const insecure = flag('insecure');
      const cacert = f.cacert ? scalarString(f.cacert, `registries."${host}".cacert`, fail, pair.value) : undefined;
      if (plain && (cacert || insecure)) fail(pair.key as Node, `registries."${host}": plainHttp: true speaks no TLS, so cacert and insecure do not apply`);
      registries[host] = { ...(plain !== undefined ? { plainHttp: plain } : {}), ...(cacert ? { cacert } : {}), ...(insecure !== undefined ? { insecure } : {}) };
    }
  }

  if (!images.length && !git.length && !manifests.length && !charts.length) fail(root, 'the bundle is empty: list images, git, manifests or charts');
  return { file, baseDir: dirname(resolve(file)), name, channel, ...(expires ? { expires } : {}), ...(trustRoot ? { trustRoot } : {}), discoverImages, images, git, manifests, charts, values, registries };
}

type Fail = (node: Node | null | undefined, message: string) => never;

function mapFields(node: Node, allowed: string[], what: string, fail: Fail): Record<string, Node | undefined> {
  const out: Record<string, Node | undefined> = {};
  if (!isMap(node)) return out;
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!allowed.includes(key)) fail(pair.key as Node, `unknown field "${key}" in ${what} (allowed: ${allowed.join(', ')})`);
    if (key in out) fail(pair.key as Node, `field "${key}" appears twice in ${what}`);
    out[key] = (pair.value ?? undefined) as Node | undefined;
  }
  return out;
}

function scalarString(node: Node | undefined, what: string, fail: Fail, parent: Node): string {
  if (!node) return fail(parent, `${what} is required`);
  if (!isScalar(node) || (typeof node.value !== 'string' && typeof node.value !== 'number')) return fail(node, `${what} must be a string`);
  const value = String(node.value);
  if (!value) fail(node, `${what} must not be empty`);
  return value;
}

function seqItems(node: Node | undefined, what: string, fail: Fail): Node[] {
  if (!node) return [];
  if (isScalar(node) && node.value === null) return [];
  if (!isSeq(node)) return fail(node, `${what} must be a list`);
  return node.items as Node[];
}

function checkImageRef(ref: string, node: Node, fail: Fail): void {
  if (ref.startsWith('oci:')) {
    const rest = ref.slice(4);
    const colon = rest.indexOf(':');
    if (colon <= 0 || colon === rest.length - 1) fail(node, `"${ref}" must be oci:PATH:NAME (an OCI layout directory and the image's ref name in it)`);
    return;
  }
  try {
    parseReference(ref);
  } catch (err) {
    fail(node, (err as Error).message);
  }
}

