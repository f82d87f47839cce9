/**
 * Flux-style substitution in YAML text before it is parsed: `${name}`, `${name:=default}`, and `$${name}` for a
 * literal `${name}`. Strict: a variable with no value and no default is an error. A substituted value may change
 * scalar text only: if the document parsed with the values differs in shape (keys, items, nesting) from the same
 * document parsed with neutral placeholders, the value injected YAML structure and the document is refused
 * (docs/adr/015-values-and-overrides.md). Pure.
 */
import { loadYaml } from '../yaml-load.js';

const REFERENCE = /\$(\$?)\{([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * A value that cannot add keys, items or nesting wherever it is substituted (plain, quoted, block scalar, flow or
 * key): it starts with a letter, digit, `_` or `/` (no indicator such as `-`, `?`, `&`, `*`, `!`, `@`, nor `...`) and
 * holds no space, line break, quote, backslash, `:`, `#`, `,`, brackets or braces.
 */
const INERT_VALUE = /^[A-Za-z0-9_/][A-Za-z0-9_./@+=-]*$/;

/** A value and where it came from (`spec`, `override 2 (airlock.yaml:20)`, `site`, `cluster pos`). */
export interface ResolvedValue {
  value: string;
  from: string;
}

export interface SubstituteProblem {
  /** 1-based line in the text. */
  line: number;
  variable: string;
  message: string;
}

export interface Substituted {
  text: string;
  /** Variables used, with where their value came from (`default` for `${x:=d}`). */
  used: Map<string, ResolvedValue>;
  problems: SubstituteProblem[];
}

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * Where comments start: for each line, the offset of a `#` that begins a YAML comment (at the line's start or after
 * a space or tab, outside single and double quotes), or none. References in comments are left as written.
 */
function commentStarts(text: string): number[] {
  const starts: number[] = [];
  let lineStart = 0;
  for (const line of text.split('\n')) {
    let quote = '';
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quote) {
        if (c === quote) quote = '';
        else if (c === '\\' && quote === '"') i++;
      } else if ((c === '"' || c === "'") && (i === 0 || /[\s:,[{-]/.test(line[i - 1] ?? ''))) quote = c;
      else if (c === '#' && (i === 0 || line[i - 1] === ' ' || line[i - 1] === '\t')) {
        starts.push(lineStart + i);
        break;
      }
    }
    lineStart += line.length + 1;
  }
  return starts;
}

function inComment(text: string, starts: number[], offset: number): boolean {
  const lineEnd = text.indexOf('\n', offset);
  return starts.some((s) => s <= offset && (lineEnd < 0 || s < lineEnd) && !text.slice(s, offset).includes('\n'));
}

/** Replaces every reference; `placeholder` mode puts a neutral token in place of every value (for the shape check). */
export function substituteText(text: string, values: ReadonlyMap<string, ResolvedValue>, placeholder = false, except?: string): Substituted {
  const used = new Map<string, ResolvedValue>();
  const problems: SubstituteProblem[] = [];
  let n = 0;
  const comments = text.includes('#') ? commentStarts(text) : [];
  const out = text.replace(REFERENCE, (whole, escape: string, body: string, offset: number) => {
    if (comments.length && inComment(text, comments, offset)) return whole;
    if (escape) return whole.slice(1);
    const eq = body.indexOf(':=');
    const name = (eq < 0 ? body : body.slice(0, eq)).trim();
    if (!NAME.test(name)) {
      problems.push({ line: lineAt(text, offset), variable: name, message: `"${whole}" is not a variable reference (a name is letters, digits and "_"; write $${whole} for a literal)` });
      return whole;
    }
    const resolved = values.get(name);
    let value: string;
    if (resolved) {
      value = resolved.value;
      used.set(name, resolved);
    } else if (eq >= 0) {
      value = body.slice(eq + 2);
      used.set(name, { value, from: 'default' });
    } else {
      problems.push({ line: lineAt(text, offset), variable: name, message: `variable "${name}" has no value and no default (give it in the spec's values, an override, the site or the cluster, or write \${${name}:=DEFAULT})` });
      return whole;
    }
    return placeholder && name !== except ? `airlockvalue${n++}` : value;
  });
  return { text: out, used, problems };
}

/**
 * Whether the document parsed with values has the same shape as the one parsed with placeholders: the same
 * collections, the same number of entries, the same keys (a key holding a placeholder may differ). Scalars may differ.
 */
export function sameShape(neutral: unknown, real: unknown): boolean {
  if (Array.isArray(neutral)) return Array.isArray(real) && real.length === neutral.length && neutral.every((v, i) => sameShape(v, real[i]));
  if (neutral !== null && typeof neutral === 'object') {
    if (real === null || typeof real !== 'object' || Array.isArray(real)) return false;
    const a = Object.entries(neutral as Record<string, unknown>);
    const b = Object.entries(real as Record<string, unknown>);
    if (a.length !== b.length) return false;
    return a.every(([k, v], i) => {
      const other = b[i];
      if (!other) return false;
      if (!k.includes('airlockvalue') && k !== other[0]) return false;
      return sameShape(v, other[1]);
    });
  }
  return real === null || typeof real !== 'object';
}

/**
 * Substitutes one YAML document's text and parses it. Returns the object (or undefined for an empty document), or
 * the problems: missing variables, YAML made invalid by a value, or a value that changed the document's shape.
 */
export function substituteDocument(text: string, values: ReadonlyMap<string, ResolvedValue>): { object?: unknown; used: Map<string, ResolvedValue>; problems: SubstituteProblem[] } {
  const real = substituteText(text, values);
  if (real.problems.length) return { used: real.used, problems: real.problems };
  const parsed = loadYaml(real.text);
  const names = [...real.used.keys()];
  // Values made only of characters that mean nothing to YAML where they stand cannot change its shape: the check
  // by a second parse is skipped for them when the document parsed (most values: numbers, names, hosts, tags).
  const inert = parsed.error === undefined && [...real.used.values()].every((v) => INERT_VALUE.test(v.value));
  const neutral = names.length && !inert ? loadYaml(substituteText(text, values, true).text) : undefined;
  if (parsed.error !== undefined && (!neutral || neutral.error !== undefined)) {
    return { used: real.used, problems: [{ line: 1, variable: '', message: `invalid YAML: ${parsed.error}` }] };
  }
  if (neutral && neutral.error === undefined && (parsed.error !== undefined || !sameShape(neutral.value, parsed.value))) {
    // Blame the variables that do it on their own (each alone with its value, the others as placeholders).
    const shape = neutral.value;
    const alone = names.filter((name) => {
      const d = loadYaml(substituteText(text, values, true, name).text);
      return d.error !== undefined || !sameShape(shape, d.value);
    });
    const culprits = alone.length ? alone : names;
    const first = culprits[0] ?? '';
    const at = text.search(new RegExp(`\\$\\{${first}(\\}|:=)`));
    const effect = parsed.error !== undefined ? 'makes the YAML invalid' : 'would change the structure of the object (add keys, items or nesting)';
    return {
      used: real.used,
      problems: [{ line: at < 0 ? 1 : lineAt(text, at), variable: culprits.join(', '), message: `the value of ${culprits.map((c) => `\${${c}}`).join(', ')} ${effect}; a value is substituted as scalar text only` }],
    };
  }
  return { object: parsed.value, used: real.used, problems: [] };
}
