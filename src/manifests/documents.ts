/**
 * Kubernetes manifests as YAML (multi-document) or JSON files. Errors name the file and line.
 */
import { LineCounter, parseAllDocuments } from 'yaml';
import { AirlockError } from '../errors.js';

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

/** Parses every non-empty document of a file. */
export function parseManifests(text: string, file: string): ManifestDocument[] {
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
    const object = value as KubeObject;
    if (object.kind === 'List' && Array.isArray(object.items)) {
      for (const item of object.items as KubeObject[]) out.push({ file, line, object: item });
    } else {
      out.push({ file, line, object });
    }
  }
  return out;
}
