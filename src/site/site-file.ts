/**
 * The site file (`airlock appliance serve --site site.yaml`): the site's name, labels and values, and the clusters
 * it keeps reconciled, each with its own name, labels, values, credentials (a kubeconfig file or the pod's service
 * account) and whether airlock reconciles it. Pure: the caller reads the file; every error names file and line.
 *
 *   apiVersion: airlock.dev/v1
 *   kind: Site
 *   metadata: {name: store-0042, labels: {region: eu, tier: large}}
 *   values: {storeNumber: "0042"}
 *   clusters:
 *     - {name: pos, kubeconfig: /etc/airlock/pos.kubeconfig, labels: {role: pos}}
 *     - {name: cameras, kubeconfig: cameras.kubeconfig, reconcile: none}
 */
import { isAbsolute, join, dirname } from 'node:path';
import { LineCounter, type Node, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { AirlockError } from '../errors.js';
import { nameProblem } from './labels.js';
import { YamlReader } from './yaml-reader.js';

export const SITE_API_VERSION = 'airlock.dev/v1';

export type Values = Record<string, string>;

export interface SiteCluster {
  name: string;
  /** Absolute path of the kubeconfig (relative paths are taken from the site file's directory). */
  kubeconfig?: string;
  inCluster?: boolean;
  labels: Record<string, string>;
  values: Values;
  /** `airlock` (the default): placements on this cluster are applied; `none`: listed only. */
  reconcile: 'airlock' | 'none';
  /** Where it is defined (`site.yaml:12`). */
  origin: string;
}

export interface Site {
  name: string;
  labels: Record<string, string>;
  values: Values;
  clusters: SiteCluster[];
  /** `registryHost: HOST[:PORT]`: the host its clusters pull images from (`airlock render` rewrites images to it). */
  registryHost?: string;
}

/** The site `--kubeconfig` (or the pod's service account) stands for: one cluster named `local`. */
export function singleClusterSite(name: string, source: { kubeconfig: string } | { inCluster: true }): Site {
  return { name, labels: {}, values: {}, clusters: [{ name: 'local', ...source, labels: {}, values: {}, reconcile: 'airlock', origin: 'command line' }] };
}


/** Parses and checks a site file; `file` is its path (for messages and for relative kubeconfig paths). */
export function parseSiteFile(text: string, file: string): Site {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const fail = (problems: string[]) => new AirlockError('SITE_INVALID', `the site file is not valid: ${problems.join('; ')}`);
  const yamlError = doc.errors[0];
  if (yamlError) throw fail([`${file}:${lines.linePos(yamlError.pos[0]).line}: invalid YAML: ${yamlError.message.split('\n')[0]}`]);
  const r = new YamlReader(file, lines);
  const top = r.fields(doc.contents, 'the site file', ['apiVersion', 'kind', 'metadata', 'values', 'clusters', 'registryHost']);
  if (!isMap(doc.contents)) throw fail(r.problems);
  const apiVersion = top.get('apiVersion');
  if (!isScalar(apiVersion) || apiVersion.value !== SITE_API_VERSION) r.problem(apiVersion ?? doc.contents, `apiVersion must be ${SITE_API_VERSION}`);
  const kind = top.get('kind');
  if (!isScalar(kind) || kind.value !== 'Site') r.problem(kind ?? doc.contents, 'kind must be Site');

  const metadataNode = top.get('metadata');
  const metadata = r.fields(metadataNode, 'metadata', ['name', 'labels']);
  let name = '';
  if (!top.has('metadata')) r.problem(doc.contents, 'metadata.name is required');
  else if (isMap(metadataNode)) {
    const n = metadata.has('name') ? r.string(metadata.get('name'), 'metadata.name') : (r.problem(metadataNode, 'metadata.name is required'), undefined);
    if (n) {
      const problem = nameProblem(n);
      if (problem) r.problem(metadata.get('name'), `metadata.name: ${problem}`);
      name = n;
    }
  }
  const labels = r.labels(metadata.get('labels'), 'metadata.labels');
  const values = r.values(top.get('values'), 'values');
  let registryHost: string | undefined;
  if (top.has('registryHost')) {
    const h = r.string(top.get('registryHost'), 'registryHost');
    if (h && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$/.test(h)) r.problem(top.get('registryHost'), `registryHost "${h}" must be a host name with an optional :port (e.g. registry.store.local:5000)`);
    else registryHost = h;
  }

  const clusters: SiteCluster[] = [];
  const clustersNode = top.get('clusters');
  if (!isSeq(clustersNode) || clustersNode.items.length === 0) {
    r.problem(clustersNode ?? doc.contents, 'clusters must list at least one cluster');
  } else {
    const seen = new Map<string, string>();
    clustersNode.items.forEach((item, i) => {
      const node = item as Node;
      const where = `clusters[${i}]`;
      const f = r.fields(node, where, ['name', 'kubeconfig', 'inCluster', 'labels', 'values', 'reconcile']);
      if (!isMap(node)) return;
      const cname = f.has('name') ? r.string(f.get('name'), `${where}.name`) : (r.problem(node, `${where}.name is required`), undefined);
      if (cname) {
        const problem = nameProblem(cname);
        if (problem) r.problem(f.get('name'), `${where}.name: ${problem}`);
        const earlier = seen.get(cname);
        if (earlier) r.problem(f.get('name'), `cluster "${cname}" is listed twice (also at ${earlier})`);
        else seen.set(cname, r.at(f.get('name')));
      }
      const inClusterNode = f.get('inCluster');
      if (f.has('inCluster') && !(isScalar(inClusterNode) && typeof inClusterNode.value === 'boolean')) r.problem(inClusterNode, `${where}.inCluster must be true or false`);
      const inCluster = isScalar(inClusterNode) && inClusterNode.value === true;
      let kubeconfig: string | undefined;
      if (f.has('kubeconfig')) {
        const k = r.string(f.get('kubeconfig'), `${where}.kubeconfig`);
        if (k) kubeconfig = isAbsolute(k) ? k : join(dirname(file), k);
      }
      if (kubeconfig && inCluster) r.problem(node, `${where}: give either kubeconfig or inCluster: true, not both`);
      if (!kubeconfig && !inCluster) r.problem(node, `${where}${cname ? ` (${cname})` : ''}: a kubeconfig path (or inCluster: true) is required`);
      const reconcileNode = f.get('reconcile');
      let reconcile: 'airlock' | 'none' = 'airlock';
      if (f.has('reconcile')) {
        if (isScalar(reconcileNode) && (reconcileNode.value === 'airlock' || reconcileNode.value === 'none')) reconcile = reconcileNode.value;
        else r.problem(reconcileNode, `${where}.reconcile must be airlock or none`);
      }
      clusters.push({
        name: cname ?? '',
        ...(kubeconfig ? { kubeconfig } : {}),
        ...(inCluster ? { inCluster } : {}),
        labels: r.labels(f.get('labels'), `${where}.labels`),
        values: r.values(f.get('values'), `${where}.values`),
        reconcile,
        origin: r.at(node),
      });
    });
  }
  if (r.problems.length) throw fail(r.problems);
  return { name, labels, values, clusters, ...(registryHost ? { registryHost } : {}) };
}

/** The labels a cluster is selected by: its site's labels with its own on top. */
export function clusterLabels(site: Site, cluster: SiteCluster): Record<string, string> {
  return { ...site.labels, ...cluster.labels };
}
