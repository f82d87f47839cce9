/**
 * Semantic versions and the range syntax Helm users write in `version:` (Masterminds/npm style): an exact
 * version, `^1.2`, `~1.2.3`, `1.x`, `*`, comparators (`>=1.2 <2.0.0`, space or comma separated), hyphen ranges
 * (`1.2 - 1.4`) and alternatives (`^1 || ^2`). Pre-releases match only a range that names one with the same
 * major.minor.patch (as Helm and npm do). Pure.
 */

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  pre: string[];
  text: string;
}

const VERSION_RE = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

export function parseVersion(text: string): SemVer | undefined {
  const m = VERSION_RE.exec(text.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre: m[4] ? m[4].split('.') : [], text };
}

export function compareVersions(a: SemVer, b: SemVer): number {
  for (const k of ['major', 'minor', 'patch'] as const) if (a[k] !== b[k]) return a[k] - b[k];
  if (!a.pre.length || !b.pre.length) return b.pre.length - a.pre.length; // a release is above its pre-releases
  for (let i = 0; i < Math.max(a.pre.length, b.pre.length); i++) {
    const x = a.pre[i];
    const y = b.pre[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x) ? Number(x) : undefined;
    const ny = /^\d+$/.test(y) ? Number(y) : undefined;
    if (nx !== undefined && ny !== undefined) {
      if (nx !== ny) return nx - ny;
    } else if (nx !== undefined) return -1;
    else if (ny !== undefined) return 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

type Op = '<' | '<=' | '>' | '>=' | '=';
interface Comparator { op: Op; v: SemVer }

/** `1`, `1.2`, `1.x`, `1.2.*` → the parts given (undefined for a wildcard or a missing part). */
function partial(text: string): { parts: (number | undefined)[]; pre: string[] } | undefined {
  const m = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(text);
  if (!m) return undefined;
  const num = (s: string | undefined) => (s === undefined || /^[xX*]$/.test(s) ? undefined : Number(s));
  const parts = [num(m[1]), num(m[2]), num(m[3])];
  // Everything after the first wildcard is a wildcard too.
  const first = parts.findIndex((p) => p === undefined);
  if (first >= 0) for (let i = first; i < 3; i++) parts[i] = undefined;
  return { parts, pre: m[4] ? m[4].split('.') : [] };
}

function v(major: number, minor: number, patch: number, pre: string[] = []): SemVer {
  return { major, minor, patch, pre, text: `${major}.${minor}.${patch}${pre.length ? `-${pre.join('.')}` : ''}` };
}

/** The comparators one range term stands for; undefined when it is not a version or range. */
function term(text: string): Comparator[] | undefined {
  const m = /^(\^|~>?|>=|<=|>|<|=)?\s*(.+)$/.exec(text);
  if (!m) return undefined;
  const op = m[1] ?? '';
  const p = partial(m[2] ?? '');
  if (!p) return undefined;
  const [ma, mi, pa] = p.parts;
  if (ma === undefined) return op === '<' || op === '>' ? [{ op: '<', v: v(0, 0, 0, ['0']) }] : [];
  const low = v(ma, mi ?? 0, pa ?? 0, p.pre);
  const upperOf = (): SemVer => (mi === undefined ? v(ma + 1, 0, 0, ['0']) : pa === undefined ? v(ma, mi + 1, 0, ['0']) : low);
  switch (op) {
    case '^': {
      const hi = ma > 0 || mi === undefined ? v(ma + 1, 0, 0, ['0']) : mi > 0 || pa === undefined ? v(0, mi + 1, 0, ['0']) : v(0, 0, pa + 1, ['0']);
      return [{ op: '>=', v: low }, { op: '<', v: hi }];
    }
    case '~':
    case '~>':
      return [{ op: '>=', v: low }, { op: '<', v: mi === undefined ? v(ma + 1, 0, 0, ['0']) : v(ma, mi + 1, 0, ['0']) }];
    case '>':
      return pa === undefined ? [{ op: '>=', v: upperOf() }] : [{ op: '>', v: low }];
    case '>=':
      return [{ op: '>=', v: low }];
    case '<':
      return [{ op: '<', v: low }];
    case '<=':
      return pa === undefined ? [{ op: '<', v: upperOf() }] : [{ op: '<=', v: low }];
    default:
      return pa === undefined ? [{ op: '>=', v: low }, { op: '<', v: upperOf() }] : [{ op: '=', v: low }];
  }
}

export interface Range { alternatives: Comparator[][]; text: string }

/** Parses a range; undefined when it is malformed. */
export function parseRange(text: string): Range | undefined {
  const alternatives: Comparator[][] = [];
  for (const alt of text.split('||')) {
    const trimmed = alt.trim();
    const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(trimmed);
    if (hyphen) {
      const lo = term(`>=${hyphen[1]}`);
      const hi = term(`<=${hyphen[2]}`);
      if (!lo || !hi) return undefined;
      alternatives.push([...lo, ...hi]);
      continue;
    }
    // "> = 1.2" is not written in practice; join an operator to the version after it, then split on space/comma.
    const terms = trimmed.replace(/(\^|~>?|>=|<=|>|<|=)\s+/g, '$1').split(/[\s,]+/).filter(Boolean);
    if (!terms.length) {
      alternatives.push([]);
      continue;
    }
    const comparators: Comparator[] = [];
    for (const t of terms) {
      const c = term(t);
      if (!c) return undefined;
      comparators.push(...c);
    }
    alternatives.push(comparators);
  }
  return { alternatives, text };
}

function holds(c: Comparator, x: SemVer): boolean {
  const d = compareVersions(x, c.v);
  return c.op === '<' ? d < 0 : c.op === '<=' ? d <= 0 : c.op === '>' ? d > 0 : c.op === '>=' ? d >= 0 : d === 0;
}

export function satisfies(x: SemVer, range: Range): boolean {
  return range.alternatives.some((cs) => {
    if (!cs.every((c) => holds(c, x))) return false;
    if (!x.pre.length) return true;
    // A pre-release only matches a comparator that names a pre-release of the same major.minor.patch.
    return cs.some((c) => c.v.pre.length && c.v.pre[0] !== '0' && c.v.major === x.major && c.v.minor === x.minor && c.v.patch === x.patch) ||
      cs.some((c) => c.op === '=' && compareVersions(c.v, x) === 0);
  });
}

/** The highest of `versions` (text as published) that the range allows, or undefined. */
export function maxSatisfying(versions: string[], rangeText: string): string | undefined {
  const range = parseRange(rangeText);
  if (!range) return undefined;
  let best: SemVer | undefined;
  for (const text of versions) {
    const x = parseVersion(text);
    if (!x || !satisfies(x, range)) continue;
    if (!best || compareVersions(x, best) > 0) best = x;
  }
  return best?.text;
}

/** An exact version (no operator, no wildcard): looked up as written rather than matched. */
export function isExactVersion(text: string): boolean {
  return !!parseVersion(text);
}
