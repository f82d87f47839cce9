/**
 * Flag parsing for every command, in the project's own words (docs/adr/011-cli.md). GNU-style: `--name VALUE`,
 * `--name=VALUE`, `-x VALUE`, `-xVALUE`, booleans as `--name`, `--` ends the options, `-` alone is an argument
 * (standard input or output). Every mistake is a UsageError saying what to write instead, with "did you mean"
 * for a misspelt name.
 */
import { type OptionSpec, type OptionValues, UsageError } from '../src/command.js';

/** Flags every command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export interface Parsed {
  values: OptionValues;
  positionals: string[];
}

export function parseCommandArgs(args: string[], options: Record<string, OptionSpec>): Parsed {
  const all = { ...options, ...GLOBAL_OPTIONS };
  const shorts = new Map(Object.entries(all).flatMap(([name, spec]) => (spec.short ? [[spec.short, name] as const] : [])));
  const values: OptionValues = {};
  const positionals: string[] = [];
  const set = (name: string, spec: OptionSpec, value: string | boolean, written: string) => {
    if (spec.multiple) {
      const list = (values[name] ?? []) as (string | boolean)[];
      values[name] = [...list, value] as string[] | boolean[];
    } else if (values[name] !== undefined && spec.type === 'string') {
      throw new UsageError(`${written} is given twice; give it once`);
    } else values[name] = value;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let written: string;
    let inline: string | undefined;
    let attached = false;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = arg.slice(2, eq < 0 ? undefined : eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
      written = `--${name}`;
      if (!Object.hasOwn(all, name)) throw new UsageError(`unknown option ${written}${hint(name, Object.keys(all), '--')}`);
    } else {
      const letter = arg.slice(1, 2);
      const long = shorts.get(letter);
      written = `-${letter}`;
      if (!long) {
        const known = [...shorts.keys()];
        const long2 = arg.length > 2 && Object.hasOwn(all, arg.slice(1)) ? `; did you mean --${arg.slice(1)}?` : hint(arg.slice(1), Object.keys(all), '--');
        throw new UsageError(`unknown option ${arg}${long2 || (known.length ? ` (short options here: ${known.map((s) => `-${s}`).join(', ')})` : '')}`);
      }
      name = long;
      if (arg.length > 2 && Object.hasOwn(all, arg.slice(1))) throw new UsageError(`unknown option ${arg}; did you mean --${arg.slice(1)}?`);
      if (arg.length > 2) {
        inline = arg.slice(arg[2] === '=' ? 3 : 2);
        attached = true;
      }
    }
    const spec = all[name] as OptionSpec;
    if (spec.type === 'boolean') {
      if (inline !== undefined) {
        throw new UsageError(attached ? `${written} takes no value; give it on its own` : `${written} takes no value; write ${written} alone, or leave it out`);
      }
      set(name, spec, true, written);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = args[i + 1];
      if (next === undefined) throw new UsageError(`${written} needs a value`);
      // A value that is itself a long option is a forgotten value, not a name starting with two dashes.
      if (next.startsWith('--') && next !== '--') {
        throw new UsageError(`${written} needs a value, and ${next} is an option; if the value really starts with "--", write ${written}=${next}`);
      }
      value = next;
      i++;
    }
    set(name, spec, value, written);
  }
  return { values, positionals };
}

/** ` (did you mean X?)` when a candidate is close to `word`, else an empty string. */
export function hint(word: string, candidates: string[], prefix = ''): string {
  const best = closest(word, candidates);
  return best === undefined ? '' : `; did you mean ${prefix}${best}?`;
}

/** The candidate nearest to `word` by edit distance (or the only one it begins), if near enough to be a typo. */
export function closest(word: string, candidates: string[]): string | undefined {
  const lower = word.toLowerCase();
  const starting = candidates.filter((c) => lower.length >= 2 && c.startsWith(lower));
  if (starting.length === 1) return starting[0];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(lower, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const allowed = Math.max(1, Math.floor(Math.max(lower.length, 3) / 3));
  return bestDistance <= allowed ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}
