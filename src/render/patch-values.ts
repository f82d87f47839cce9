/**
 * Values in an override's patch values (docs/adr/015-values-and-overrides.md): every string in `value` is
 * substituted like manifest text (`${name}`, `${name:=default}`, `$${name}` literal). A string that is exactly one
 * reference takes the value's YAML scalar (`replicas: ${n}` with `n: "3"` patches the number 3, as in a manifest);
 * a value that would be a mapping or a list there is refused, as structure is never injected. Pure.
 */
import { parse } from 'yaml';
import { type ResolvedValue, substituteText } from './substitute.js';

const WHOLE_REFERENCE = /^\$\{[^}]*\}$/;

export interface PatchValueResult {
  value: unknown;
  used: Map<string, ResolvedValue>;
  problems: string[];
}

export function substitutePatchValue(value: unknown, values: ReadonlyMap<string, ResolvedValue>): PatchValueResult {
  const used = new Map<string, ResolvedValue>();
  const problems: string[] = [];
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      if (!v.includes('${')) return v;
      const r = substituteText(v, values);
      for (const [k, x] of r.used) used.set(k, x);
      problems.push(...r.problems.map((p) => p.message));
      if (r.problems.length || !WHOLE_REFERENCE.test(v)) return r.text;
      let scalar: unknown;
      try {
        scalar = parse(r.text) as unknown;
      } catch {
        return r.text;
      }
      if (scalar !== null && typeof scalar === 'object') {
        problems.push(`the value of ${v} would be a ${Array.isArray(scalar) ? 'list' : 'mapping'}; a value is substituted as scalar text only`);
        return r.text;
      }
      return scalar;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return { value: walk(value), used, problems };
}
