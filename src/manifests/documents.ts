/**
 * Kubernetes manifests as YAML (multi-document) or JSON files. Errors name the file and line.
 */
import { LineCounter, parseAllDocuments } from 'yaml';
import { AirlockError } from '../errors.js';
import { splitDocuments } from '../render/documents.js';
import { loadYaml } from '../yaml-load.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export interface ManifestDocument {
  file: string;
  /** 1-based line where the document starts. */
  line: number;
  object: KubeObject;
}

export function isManifestFile(path: string): boolean {
  return /\.(ya?ml|json)$/i.test(path);
}

/**
 * Parses every non-empty document of a file. Files of plain documents are split on their `---` lines and each read
 * with `loadYaml` (js-yaml with the `yaml` library's core schema, ~8x faster, ADR 021); a file with a directive or
 * with content on a `---` line, or any document that does not read as a mapping, a list of them or nothing, is read whole by the `yaml` library, whose
 * errors are the ones reported. Both give the same objects and lines (test/unit/manifests-documents.test.ts).
 */
export function parseManifests(text: string, file: string): ManifestDocument[] {
  return (WHOLE.test(text) ? undefined : parseSplit(text, file)) ?? parseWhole(text, file);
}

/**
 * Files read whole: a `%YAML`/`%TAG` directive line (it belongs to the document after it, which splitting on `---`
 * would lose), or content on a `---` line (the `yaml` library refuses a block mapping there; a scalar is rare).
 */
const WHOLE = /^%|^---[ \t]+[^#\s]/m;

function parseSplit(text: string, file: string): ManifestDocument[] | undefined {
  const out: ManifestDocument[] = [];
  for (const d of splitDocuments(text)) {
    const { value, error } = loadYaml(d.text);
    if (error !== undefined) return undefined;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) return undefined;
    pushObject(out, file, d.line + firstContentLine(d.text), value as KubeObject);
  }
  return out;
}

/** Lines before the document's content: blank lines and comments (the `yaml` library's line is its content's). */
function firstContentLine(text: string): number {
  let n = 0;
  for (let at = 0; at < text.length; n++) {
    const end = text.indexOf('\n', at);
    const t = text.slice(at, end < 0 ? text.length : end).trim();
    if (t && !t.startsWith('#')) return n;
    if (end < 0) break;
    at = end + 1;
  }
  return n;
}

function pushObject(out: ManifestDocument[], file: string, line: number, object: KubeObject): void {
  if (object.kind === 'List' && Array.isArray(object.items)) {
    for (const item of object.items as KubeObject[]) out.push({ file, line, object: item });
  } else {
    out.push({ file, line, object });
  }
}

/** The whole file read by the `yaml` library: the reference reading (and its errors). */
export function parseWhole(text: string, file: string): ManifestDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const out: ManifestDocument[] = [];
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) {
      const line = lineCounter.linePos(error.pos[0]).line;
      throw new AirlockError('MANIFESTS_INVALID', `${file}:${line}: invalid YAML: ${error.message.split('\n')[0]}`);
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    const line = lineCounter.linePos(doc.contents?.range?.[0] ?? doc.range[0]).line;
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new AirlockError('MANIFESTS_INVALID', `${file}:${line}: a manifest document must be a mapping`);
    }
    pushObject(out, file, line, value as KubeObject);
  }
  return out;
}
