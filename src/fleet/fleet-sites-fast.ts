/**
 * A fast path for the fleet file's site list. The `yaml` library takes about 0.3 ms per site entry (lexer, parser,
 * composer): some 3 s for a fleet of 10,000 sites, before any receipt is read. Site lists are mostly written (or
 * generated) one site a line, `  - {name: N, labels: {K: V, …}, key: KEY}`; such lines are read here with a regular
 * expression into the same YAML nodes (each with its offset in the text, so every problem still names file and
 * line), and the YAML library parses the rest of the file, where the lines read are blanked out to spaces of the
 * same length (offsets and line numbers unchanged) and the first one holds an empty list as a placeholder.
 *
 * Only what YAML itself would read as exactly these strings is taken: plain scalars that begin with a letter (no
 * number, boolean or null can), no quotes, comments, anchors or tags, no repeated label key. Anything else, or a
 * site list not in this form from its first line to its last, leaves the whole file to the YAML library, so the
 * result and every message are those of the library either way.
 */
import { type Document, Pair, Scalar, YAMLMap, isSeq } from 'yaml';

const WORD = '[A-Za-z][A-Za-z0-9._/-]*';
const LABEL = `(${WORD}): (${WORD})`;
const KEY = `[A-Za-z0-9+/]{43}=|/?${WORD}`;
const SITE_LINE = new RegExp(`^( *)- \\{name: (${WORD}), labels: \\{((?:${WORD}: ${WORD})(?:, ${WORD}: ${WORD})*)?\\}, key: (${KEY})\\} *$`);
const LABEL_RE = new RegExp(LABEL, 'g');
/** Plain scalars YAML 1.2 (core schema) reads as booleans or null. */
const NOT_STRINGS = new Set(['true', 'True', 'TRUE', 'false', 'False', 'FALSE', 'null', 'Null', 'NULL']);

export interface FastSites {
  /** The text with the site lines blanked out and the placeholder in the first. */
  text: string;
  /** Offset of the placeholder list (`[]`). */
  placeholder: number;
  items: YAMLMap[];
}

function scalar(value: string, at: number): Scalar<string> | undefined {
  if (NOT_STRINGS.has(value)) return undefined;
  const node = new Scalar(value);
  node.range = [at, at + value.length, at + value.length];
  return node;
}

/** One site line as the YAML nodes the library would make of it; undefined when it is not in the simple form. */
function siteNode(line: string, offset: number): { indent: string; map: YAMLMap } | undefined {
  const m = SITE_LINE.exec(line);
  if (!m) return undefined;
  const [, indent = '', name = '', labels, key = ''] = m;
  const open = offset + indent.length + 2;
  const map = new YAMLMap();
  map.flow = true;
  map.range = [open, offset + line.lastIndexOf('}') + 1, offset + line.length];
  const nameAt = open + '{name: '.length;
  const nameNode = scalar(name, nameAt);
  if (!nameNode) return undefined;
  const labelsAt = nameAt + name.length + ', labels: '.length;
  const labelMap = new YAMLMap();
  labelMap.flow = true;
  const labelsText = labels ?? '';
  labelMap.range = [labelsAt, labelsAt + labelsText.length + 2, labelsAt + labelsText.length + 2];
  const seen = new Set<string>();
  for (const l of labelsText.matchAll(LABEL_RE)) {
    const [, k = '', v = ''] = l;
    if (seen.has(k)) return undefined; // a repeated key: the library's error
    seen.add(k);
    const at = labelsAt + 1 + (l.index ?? 0);
    const kNode = scalar(k, at);
    const vNode = scalar(v, at + k.length + 2);
    if (!kNode || !vNode) return undefined;
    labelMap.items.push(new Pair(kNode, vNode));
  }
  const keyNode = scalar(key, labelsAt + labelsText.length + 2 + ', key: '.length);
  if (!keyNode) return undefined;
  map.items.push(new Pair(scalar('name', open + 1), nameNode), new Pair(scalar('labels', nameAt + name.length + 2), labelMap), new Pair(scalar('key', keyNode.range?.[0] ?? 0), keyNode));
  return { indent, map };
}

/** The site list read the fast way, or undefined (the YAML library reads the whole file). */
export function fastSites(text: string): FastSites | undefined {
  if (text.includes('\r')) return undefined;
  const lines = text.split('\n');
  const starts: number[] = [];
  let at = 0;
  for (const l of lines) {
    starts.push(at);
    at += l.length + 1;
  }
  const heads = lines.flatMap((l, i) => (/^sites: *$/.test(l) ? [i] : []));
  if (heads.length !== 1) return undefined;
  const first = (heads[0] ?? 0) + 1;
  const items: YAMLMap[] = [];
  let indent: string | undefined;
  let end = first;
  for (; end < lines.length; end++) {
    const site = siteNode(lines[end] ?? '', starts[end] ?? 0);
    if (!site || (indent !== undefined && site.indent !== indent)) break;
    indent = site.indent;
    items.push(site.map);
  }
  if (!items.length || indent === undefined) return undefined;
  // What follows the list must be the next top-level field (or the end): the list is all read.
  const next = lines.slice(end).find((l) => !/^ *(#.*)?$/.test(l));
  if (next !== undefined && !/^[A-Za-z_]/.test(next)) return undefined;
  const out = lines.map((l, i) => (i === first ? `${indent}- []`.padEnd(l.length, ' ') : i > first && i < end ? ' '.repeat(l.length) : l));
  return { text: out.join('\n'), placeholder: (starts[first] ?? 0) + indent.length + 2, items };
}

/** Puts the sites read into the parsed document; false when the document is not as expected (then parse it whole). */
export function fillSites(doc: Document.Parsed, fast: FastSites): boolean {
  if (doc.errors.length) return false;
  const contents = doc.contents as YAMLMap | null;
  const sites = contents?.get?.('sites', true);
  if (!isSeq(sites) || sites.items.length !== 1) return false;
  const holder = sites.items[0];
  if (!isSeq(holder) || holder.items.length !== 0 || holder.range?.[0] !== fast.placeholder) return false;
  sites.items = fast.items;
  return true;
}
