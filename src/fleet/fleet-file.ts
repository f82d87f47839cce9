/**
 * The fleet file (`airlock fleet … --fleet fleet.yaml`): the sites headquarters follows (name, labels, appliance
 * public key) and the waves a release moves through, in order, each with its gate. Pure: the caller reads the
 * file (and the key files and site directory it names, src/fleet/load.ts); every error names file and line.
 *
 *   apiVersion: airlock.dev/v1
 *   kind: Fleet
 *   depot: oci://registry.example.com/stores        # optional; --depot wins
 *   stale: 24h                                       # a site silent for longer is stale (default 24h)
 *   sites:
 *     - {name: store-0001, labels: {ring: canary, region: eu}, key: keys/store-0001.pub}
 *     - {name: store-0002, labels: {region: eu}, key: 3q2+7w…=}   # the public key inline (base64)
 *   sitesDir: sites/                                 # or: site files plus NAME.pub keys
 *   waves:
 *     - {name: canary, selector: {matchLabels: {ring: canary}}, gate: {healthy: 100%, soak: 30m}}
 *     - {name: eu, selector: {matchLabels: {region: eu}}, gate: {healthy: 95%, soak: 2h}}
 */
import { isAbsolute, join, dirname } from 'node:path';
import { LineCounter, type Node, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { AirlockError } from '../errors.js';
import { YamlReader } from '../site/yaml-reader.js';
import { fastSites, fillSites } from './fleet-sites-fast.js';
import { selectorProblems } from '../render/selector.js';
import type { LabelSelector } from '../render/types.js';
import { parseDuration } from '../units.js';

export const FLEET_API_VERSION = 'airlock.dev/v1';
export const DEFAULT_STALE_MS = 24 * 3600_000;

/** A site's appliance key: a file to read (absolute, or relative to the fleet file's directory) or the key itself. */
export type KeyRef = { path: string } | { inline: string };

export interface FleetSiteEntry {
  name: string;
  labels: Record<string, string>;
  key: KeyRef;
  /** Where it is defined (`fleet.yaml:12`). */
  origin: string;
}

export interface WaveGate {
  /** The share of the wave's sites (0 to 1) that must be healthy on the release. */
  healthy: number;
  /** For how long (ms) each of them must have been seen healthy on it without a break. */
  soakMs: number;
}

export interface FleetWave {
  name: string;
  selector: LabelSelector;
  gate: WaveGate;
  origin: string;
}

export interface FleetFile {
  file: string;
  depot?: string;
  staleMs: number;
  /** Where the fleet keeps the receipts it has read from the depot (the history soak times are measured on). */
  history?: string;
  sites: FleetSiteEntry[];
  /** Absolute path of `sitesDir`, when the sites come from site files. */
  sitesDir?: string;
  waves: FleetWave[];
}

const DEFAULT_GATE: WaveGate = { healthy: 1, soakMs: 0 };

class Reader extends YamlReader {
  duration(node: Node | null | undefined, where: string, example: string): number | undefined {
    const text = isScalar(node) ? String(node.value) : '';
    const ms = parseDuration(text);
    if (ms === undefined) this.problem(node, `${where} "${text}" is not a duration: give a whole number and a unit (s, m, h, d or w), like ${example}`);
    return ms;
  }
}

/** `95%`, `95` or `0.95` (a number up to 1 is a share) → 0.95. */
function share(node: Node | null | undefined, r: Reader, where: string): number | undefined {
  const raw = isScalar(node) ? node.value : undefined;
  const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : '';
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  const value = m?.[2] === '%' || n > 1 ? n / 100 : n;
  if (!m || !(value >= 0 && value <= 1)) {
    r.problem(node, `${where} "${text}" must be a share of the wave's sites from 0% to 100%, like 95%`);
    return undefined;
  }
  return value;
}

/** A key given inline: the base64 of a 32-byte ed25519 public key. */
export function isInlineKey(text: string): boolean {
  return /^[A-Za-z0-9+/]{43}=$/.test(text) && Buffer.from(text, 'base64').length === 32;
}

/** Parses and checks a fleet file; `file` is its path (for messages and for relative paths). */
export function parseFleetFile(text: string, file: string): FleetFile {
  const parse = (source: string) => {
    const lineCounter = new LineCounter();
    return { lines: lineCounter, doc: parseDocument(source, { lineCounter, prettyErrors: false, uniqueKeys: true }) };
  };
  // Site lists of thousands of one-line entries are read without the YAML library (src/fleet/fleet-sites-fast.ts).
  const fast = fastSites(text);
  let parsed = fast ? parse(fast.text) : undefined;
  if (!parsed || !fast || !fillSites(parsed.doc, fast)) parsed = parse(text);
  const { lines, doc } = parsed;
  const fail = (problems: string[]) =>
    new AirlockError('FLEET_INVALID', `the fleet file is not valid: ${problems.slice(0, 20).join('; ')}${problems.length > 20 ? `; and ${problems.length - 20} more` : ''}`);
  const yamlError = doc.errors[0];
  if (yamlError) throw fail([`${file}:${lines.linePos(yamlError.pos[0]).line}: invalid YAML: ${yamlError.message.split('\n')[0]}`]);
  const r = new Reader(file, lines);
  const top = r.fields(doc.contents, 'the fleet file', ['apiVersion', 'kind', 'metadata', 'depot', 'stale', 'history', 'sites', 'sitesDir', 'waves']);
  if (!isMap(doc.contents)) throw fail(r.problems);
  const apiVersion = top.get('apiVersion');
  if (top.has('apiVersion') && !(isScalar(apiVersion) && apiVersion.value === FLEET_API_VERSION)) r.problem(apiVersion, `apiVersion must be ${FLEET_API_VERSION}`);
  const kind = top.get('kind');
  if (!isScalar(kind) || kind.value !== 'Fleet') r.problem(kind ?? doc.contents, 'kind must be Fleet');
  if (top.has('metadata')) r.fields(top.get('metadata'), 'metadata', ['name', 'labels']);
  const base = dirname(file);
  const resolvePath = (p: string) => (isAbsolute(p) ? p : join(base, p));

  let depot: string | undefined;
  if (top.has('depot')) {
    depot = r.string(top.get('depot'), 'depot');
    if (depot && !depot.startsWith('oci://')) r.problem(top.get('depot'), `depot "${depot}" must be an oci://HOST/REPO URL`);
  }
  const staleMs = top.has('stale') ? r.duration(top.get('stale'), 'stale', '24h') : DEFAULT_STALE_MS;
  if (staleMs === 0) r.problem(top.get('stale'), 'stale must be longer than 0s');
  const historyText = top.has('history') ? r.string(top.get('history'), 'history') : undefined;

  const sites: FleetSiteEntry[] = [];
  const sitesNode = top.get('sites');
  let sitesDir: string | undefined;
  if (top.has('sitesDir')) {
    const d = r.string(top.get('sitesDir'), 'sitesDir');
    if (d) sitesDir = resolvePath(d);
  }
  if (top.has('sites') && sitesDir) r.problem(sitesNode, 'give either sites or sitesDir, not both');
  if (!top.has('sites') && !sitesDir) r.problem(doc.contents, 'sites (a list of sites) or sitesDir (a directory of site files and NAME.pub keys) is required');
  if (top.has('sites')) {
    if (!isSeq(sitesNode)) r.problem(sitesNode, 'sites must be a list of {name, labels, key}');
    else {
      const seen = new Map<string, string>();
      for (const [i, item] of sitesNode.items.entries()) {
        const node = item as Node;
        const where = `sites[${i}]`;
        const f = r.fields(node, where, ['name', 'labels', 'key']);
        if (!isMap(node)) continue;
        const name = f.has('name') ? r.name(f.get('name'), `${where}.name`) : (r.problem(node, `${where}.name is required`), undefined);
        if (name) {
          const earlier = seen.get(name);
          if (earlier) r.problem(f.get('name'), `site "${name}" is listed twice (also at ${earlier})`);
          else seen.set(name, r.at(f.get('name')));
        }
        const keyText = f.has('key') ? r.string(f.get('key'), `${where}.key`) : (r.problem(node, `${where}${name ? ` (${name})` : ''}: key is required: the appliance's public key (a path to its appliance.pub, or the base64 key itself)`), undefined);
        sites.push({
          name: name ?? '',
          labels: r.labels(f.get('labels'), `${where}.labels`),
          key: keyText && isInlineKey(keyText) ? { inline: keyText } : { path: resolvePath(keyText ?? '') },
          origin: r.at(node),
        });
      }
    }
  }

  const waves: FleetWave[] = [];
  const wavesNode = top.get('waves');
  if (top.has('waves')) {
    if (!isSeq(wavesNode)) r.problem(wavesNode, 'waves must be a list of {name, selector, gate}');
    else {
      const seen = new Set<string>();
      for (const [i, item] of wavesNode.items.entries()) {
        const node = item as Node;
        const where = `waves[${i}]`;
        const f = r.fields(node, where, ['name', 'selector', 'gate']);
        if (!isMap(node)) continue;
        const name = f.has('name') ? r.name(f.get('name'), `${where}.name`) : (r.problem(node, `${where}.name is required`), undefined);
        if (name && seen.has(name)) r.problem(f.get('name'), `wave "${name}" is listed twice`);
        if (name) seen.add(name);
        const selectorNode = f.get('selector');
        const selector = (selectorNode && typeof selectorNode === 'object' && 'toJSON' in selectorNode ? (selectorNode as { toJSON(): unknown }).toJSON() : undefined) ?? {};
        if (!f.has('selector')) r.problem(node, `${where}: selector is required (e.g. {matchLabels: {ring: canary}}; {} selects every site)`);
        for (const p of selectorProblems(selector, `${where}.selector`)) r.problem(selectorNode, p);
        let gate = DEFAULT_GATE;
        if (f.has('gate')) {
          const g = r.fields(f.get('gate'), `${where}.gate`, ['healthy', 'soak']);
          const healthy = g.has('healthy') ? share(g.get('healthy'), r, `${where}.gate.healthy`) : DEFAULT_GATE.healthy;
          const soakMs = g.has('soak') ? r.duration(g.get('soak'), `${where}.gate.soak`, '30m') : DEFAULT_GATE.soakMs;
          gate = { healthy: healthy ?? 1, soakMs: soakMs ?? 0 };
        }
        waves.push({ name: name ?? '', selector: selector as LabelSelector, gate, origin: r.at(node) });
      }
    }
  }
  if (!waves.length) r.problem(wavesNode ?? doc.contents, 'waves must list at least one wave (the first one gets a release first)');
  if (r.problems.length) throw fail(r.problems);
  return {
    file,
    ...(depot ? { depot } : {}),
    staleMs: staleMs ?? DEFAULT_STALE_MS,
    ...(historyText ? { history: resolvePath(historyText) } : {}),
    sites,
    ...(sitesDir ? { sitesDir } : {}),
    waves,
  };
}
