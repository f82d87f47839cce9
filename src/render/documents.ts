/**
 * A YAML file split into its documents as text (on `---` lines), each with the line it starts on, so values can be
 * substituted per object before parsing and every message names the file's own line. Pure.
 */
import { loadYaml } from '../yaml-load.js';
import type { KubeObject } from '../manifests/documents.js';

export const SUBSTITUTE_ANNOTATION = 'airlock.dev/substitute';

export interface DocumentText {
  text: string;
  /** 1-based line of the file where this document's text begins. */
  line: number;
}

export function splitDocuments(text: string): DocumentText[] {
  const lines = text.split('\n');
  const out: DocumentText[] = [];
  let start = 0;
  const flush = (end: number) => {
    const body = lines.slice(start, end).join('\n');
    if (body.trim()) out.push({ text: body, line: start + 1 });
  };
  lines.forEach((l, i) => {
    if (/^---(\s|$)/.test(l)) {
      flush(i);
      start = i + 1;
      // Content after `--- ` on the same line belongs to the document.
      const rest = l.slice(3).trim();
      if (rest && !rest.startsWith('#')) {
        lines[i] = rest;
        start = i;
      }
    } else if (/^\.\.\.(\s|$)/.test(l)) {
      flush(i);
      start = i + 1;
    }
  });
  flush(lines.length);
  return out;
}

/** The document as written, when it parses: for its name in messages and its substitute annotation. */
export function rawObject(text: string): KubeObject | undefined {
  // unparsable (an alias that does not resolve, say): the substituted parse reports it
  const { value: v } = loadYaml(text);
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as KubeObject) : undefined;
}

/** Whether the object opts out of substitution (`airlock.dev/substitute: disabled`). */
export function substitutionDisabled(o: KubeObject | undefined): boolean {
  return o?.metadata?.annotations?.[SUBSTITUTE_ANNOTATION] === 'disabled';
}
