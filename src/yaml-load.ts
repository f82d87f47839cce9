/**
 * One YAML document's text to plain data, as the `yaml` library's YAML 1.2 core schema reads it, but about ten
 * times faster for the Kubernetes objects a render parses by the thousand (bench/render-bench.ts; ADR 015).
 *
 * The fast path is js-yaml with a schema whose null, boolean, integer and float rules are the `yaml` library's own
 * (so `0b101`, `+0o7` and `-0x1F` stay strings and `-.5` is a number, as before). It is taken only for text where
 * the two libraries cannot differ: no anchors, aliases or tags (`&`, `*`, `!`), no complex or flow-collection keys,
 * no null key, no `%YAML` directive. Everything else, and every document js-yaml refuses, goes to the `yaml`
 * library, whose messages the render reports. Pure.
 */
import jsyaml from 'js-yaml';
import { parseDocument } from 'yaml';

const scalar = (tag: string, test: RegExp, construct: (s: string) => unknown) =>
  new jsyaml.Type(`tag:yaml.org,2002:${tag}`, { kind: 'scalar', resolve: (s: string | null) => test.test(s ?? ''), construct: (s: string | null) => construct(s ?? '') });

/** The `yaml` library's core schema (node_modules/yaml/dist/schema/core, common/null), rule for rule. */
const CORE = jsyaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar('null', /^(?:~|[Nn]ull|NULL)?$/, () => null),
    scalar('bool', /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (s) => s[0] === 't' || s[0] === 'T'),
    scalar('int', /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/, (s) => (s.startsWith('0o') ? parseInt(s.slice(2), 8) : s.startsWith('0x') ? parseInt(s.slice(2), 16) : parseInt(s, 10))),
    scalar('float', /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*))$/, (s) =>
      s.slice(-3).toLowerCase() === 'nan' ? Number.NaN : /inf$/i.test(s) ? (s.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY) : parseFloat(s),
    ),
  ],
});

/** Text the fast path leaves to the `yaml` library (false positives only cost speed). */
const SLOW = /[&*!]|%YAML|(?:^|[\s[{,])\?(?:\s|$)|[\]}][ \t]*:(?:\s|$)|(?:^[ \t]*(?:-[ \t]+)*|[{,][ \t]*)(?:~|[Nn]ull|NULL)?[ \t]*:(?:\s|$)/m;

export interface Loaded {
  value?: unknown;
  /** The first error's first line, from the `yaml` library. */
  error?: string;
}

/** The `yaml` library's reading (duplicate keys refused, at most 100 aliases), or its first error. */
export function loadSlow(text: string): Loaded {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) return { error: first.message.split('\n')[0] ?? '' };
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }) as unknown };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** Whether js-yaml may read this text (it still falls back when js-yaml refuses it). */
export function fastPathAllowed(text: string): boolean {
  return !SLOW.test(text);
}

/** One document's data (null for an empty one), or the first error. */
export function loadYaml(text: string): Loaded {
  if (fastPathAllowed(text)) {
    try {
      return { value: jsyaml.load(text, { schema: CORE }) ?? null };
    } catch {
      // refused: the `yaml` library says why, in the words the render has always reported
    }
  }
  return loadSlow(text);
}
