/**
 * YAML text of plain data (what JSON can hold), written directly: block maps and sequences, two spaces of indent,
 * multi-line strings as literal blocks, every other string plain only where no YAML reader (1.2, nor the 1.1 rules
 * of Go's yaml.v2 behind kubectl) could take it for anything but that string, and double-quoted otherwise.
 * `airlock render` prints 1,000 objects with it in a few milliseconds, where the general `yaml` stringifier took half
 * a second (bench/render-bench.ts). Pure.
 */

export interface EmitOptions {
  /** Keys in code-unit order at every level (stable bytes whatever order the object was built in). */
  sortKeys?: boolean;
}

/** Plain-scalar candidates: a letter, `_` or `/` first, then a conservative set; single spaces between words. */
const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./@+=:-]*(?: [A-Za-z0-9_./@+=:-]+)*$/;
/** Words YAML 1.1 or 1.2 reads as booleans or null (compared in lower case). */
const RESERVED = new Set(['true', 'false', 'yes', 'no', 'on', 'off', 'y', 'n', 'null']);
/** Characters a YAML stream may not hold as they are (C0 but tab and line feed, DEL, C1, BOM, non-characters). */
// eslint-disable-next-line no-control-regex
const NON_PRINTABLE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufffe\uffff]/;
// eslint-disable-next-line no-control-regex
const NON_PRINTABLE_G = /[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufffe\uffff]/g;

function plainOk(s: string): boolean {
  return PLAIN.test(s) && !RESERVED.has(s.toLowerCase()) && !s.includes(': ') && !s.endsWith(':');
}

/** Double-quoted: JSON's escapes are YAML's; what JSON leaves as it is but YAML may not hold is escaped too. */
function quoted(s: string): string {
  const json = JSON.stringify(s);
  return NON_PRINTABLE.test(json) ? json.replace(NON_PRINTABLE_G, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}

/** A string as a scalar on its line: plain where safe, else double-quoted. */
export function scalarText(s: string): string {
  return plainOk(s) ? s : quoted(s);
}

/** A literal block (`|`, `|-`, `|+`) for text with line breaks that a block can hold exactly; undefined otherwise. */
function literalBlock(s: string, indent: string): string | undefined {
  if (!s.includes('\n') || s.includes('\r') || NON_PRINTABLE.test(s) || s.startsWith(' ') || s.startsWith('\n')) return undefined;
  const body = s.replace(/\n+$/, '');
  const trailing = s.length - body.length;
  const chomp = trailing === 0 ? '-' : trailing === 1 ? '' : '+';
  const lines = (trailing > 1 ? s.slice(0, -1) : body).split('\n');
  return `|${chomp}\n${lines.map((l) => (l === '' ? '' : indent + l)).join('\n')}\n`;
}

function numberText(n: number): string {
  if (Number.isNaN(n)) return '.nan';
  if (!Number.isFinite(n)) return n > 0 ? '.inf' : '-.inf';
  return String(n);
}

type Plain = null | boolean | number | string | Plain[] | { [key: string]: Plain };

function normalise(v: unknown): Plain | undefined {
  const t = typeof v;
  if (t === 'string' || t === 'number' || t === 'boolean') return v as Plain;
  if (v !== null && t === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') return (v as { toJSON: () => Plain }).toJSON();
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return undefined;
  if (typeof v === 'bigint') return Number(v);
  return v as Plain;
}

/** The scalar (or empty collection) text after `key:` or `-`; undefined for a collection written on lines of its own. */
function inline(v: Plain): string | undefined {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return numberText(v);
  if (typeof v === 'string') return scalarText(v);
  if (Array.isArray(v)) return v.length === 0 ? '[]' : undefined;
  return Object.keys(v).some((k) => normalise(v[k]) !== undefined) ? undefined : '{}';
}

/** Keys repeat (name, metadata, labels…): their text is worked out once per emitYaml call. */
function keyText(cache: Map<string, string>, k: string): string {
  let t = cache.get(k);
  if (t === undefined) {
    t = scalarText(k);
    cache.set(k, t);
  }
  return t;
}

class Writer {
  out: string[] = [];
  readonly keyCache = new Map<string, string>();
  constructor(private readonly sort: boolean) {}

  /** The entries written (undefined values left out, as JSON does), values normalised once, sorted on request. */
  entries(o: { [key: string]: Plain }): [string, Plain][] {
    const out: [string, Plain][] = [];
    for (const k of Object.keys(o)) {
      const v = normalise(o[k]);
      if (v !== undefined) out.push([k, v]);
    }
    return this.sort ? out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : out;
  }


  /** A value after `prefix` (`key:` or `-`) at `indent`, the prefix already written. */
  after(v: Plain, indent: string, inSequence: boolean): void {
    const one = inline(v);
    if (one !== undefined) {
      this.out.push(` ${one}\n`);
      return;
    }
    if (typeof v === 'string') return; // unreachable: strings are inline or a block below
    if (v === null || typeof v !== 'object') return;
    // a collection under a key starts on the next line, indented; one inside a sequence on the dash's line
    const child = `${indent}  `;
    this.out.push(inSequence ? ' ' : '\n');
    if (Array.isArray(v)) this.sequence(v, child, inSequence);
    else this.map(v, child, inSequence);
  }

  value(v: Plain, indent: string, inSequence: boolean): void {
    if (typeof v === 'string') {
      const block = literalBlock(v, `${indent}  `);
      if (block !== undefined) {
        this.out.push(` ${block}`);
        return;
      }
    }
    this.after(v, indent, inSequence);
  }

  map(o: { [key: string]: Plain }, indent: string, firstInline: boolean): void {
    this.entries(o).forEach(([k, v], i) => {
      this.out.push(`${i === 0 && firstInline ? '' : indent}${keyText(this.keyCache, k)}:`);
      this.value(v, indent, false);
    });
  }

  sequence(a: Plain[], indent: string, firstInline: boolean): void {
    a.forEach((item, i) => {
      this.out.push(`${i === 0 && firstInline ? '' : indent}-`);
      this.value(normalise(item) ?? null, indent, true);
    });
  }
}

/** One document's YAML (no `---`), ending with a line feed. */
export function emitYaml(value: unknown, options: EmitOptions = {}): string {
  const v = normalise(value) ?? null;
  const w = new Writer(options.sortKeys === true);
  if (Array.isArray(v) && v.length) w.sequence(v, '', false);
  else if (v !== null && typeof v === 'object' && !Array.isArray(v) && inline(v) === undefined) w.map(v, '', false);
  else {
    const block = typeof v === 'string' ? literalBlock(v, '  ') : undefined;
    w.out.push(block ?? `${inline(v) ?? ''}\n`);
  }
  return w.out.join('');
}
