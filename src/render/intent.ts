/**
 * Checks a source's placement intent given as plain data (from the spec's YAML, or from a bundle's signed config):
 * `placement.clusterSelector`, `overrides` ({clusterSelector, values, patches, images}) and `values`. Pure: returns
 * the typed intent or every problem in words.
 */
import { formatReference, parseReference } from '../reference.js';
import { selectorProblems } from './selector.js';
import type { ImageOverride, LabelSelector, Override, PatchOp, Values } from './types.js';

const VALUE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const OPS = ['add', 'remove', 'replace', 'move', 'copy', 'test'];

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function unknownFields(v: Record<string, unknown>, allowed: string[], where: string, problems: string[]): void {
  for (const k of Object.keys(v)) if (!allowed.includes(k)) problems.push(`${where}: unknown field "${k}" (allowed: ${allowed.join(', ')})`);
}

export function checkValues(raw: unknown, where: string, problems: string[]): Values | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isMapping(raw)) {
    problems.push(`${where} must be a mapping of names to values`);
    return undefined;
  }
  const out: Values = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!VALUE_NAME.test(k)) problems.push(`${where}: value name "${k}" must be letters, digits and "_", not starting with a digit`);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') problems.push(`${where}: "${k}" must be a string, number or boolean`);
    else out[k] = String(v);
  }
  return out;
}

export function checkSelector(raw: unknown, where: string, problems: string[]): LabelSelector | undefined {
  if (raw === undefined || raw === null) return undefined;
  const found = selectorProblems(raw, where);
  problems.push(...found);
  return found.length ? undefined : (raw as LabelSelector);
}

function checkPatch(raw: unknown, where: string, problems: string[]): PatchOp | undefined {
  if (!isMapping(raw)) {
    problems.push(`${where} must be a mapping {target: {kind, name, namespace}, op, path, value}`);
    return undefined;
  }
  unknownFields(raw, ['target', 'op', 'path', 'value', 'from'], where, problems);
  const t = raw.target;
  if (!isMapping(t) || typeof t.kind !== 'string' || !t.kind || typeof t.name !== 'string' || !t.name || (t.namespace !== undefined && typeof t.namespace !== 'string')) {
    problems.push(`${where}.target must be a mapping with kind and name (and optionally namespace)`);
    return undefined;
  }
  unknownFields(t, ['kind', 'name', 'namespace'], `${where}.target`, problems);
  if (typeof raw.op !== 'string' || !OPS.includes(raw.op)) {
    problems.push(`${where}: op ${JSON.stringify(raw.op ?? null)} does not exist (use ${OPS.join(', ')})`);
    return undefined;
  }
  if (typeof raw.path !== 'string' || !raw.path.startsWith('/')) {
    problems.push(`${where}.path must be a JSON pointer such as /spec/replicas`);
    return undefined;
  }
  if (['add', 'replace', 'test'].includes(raw.op) && !('value' in raw)) problems.push(`${where}: op ${raw.op} needs a value`);
  if (['move', 'copy'].includes(raw.op) && (typeof raw.from !== 'string' || !raw.from.startsWith('/'))) problems.push(`${where}: op ${raw.op} needs from (a JSON pointer)`);
  return {
    target: { kind: t.kind, name: t.name, ...(typeof t.namespace === 'string' ? { namespace: t.namespace } : {}) },
    op: raw.op as PatchOp['op'],
    path: raw.path,
    ...('value' in raw ? { value: raw.value } : {}),
    ...(typeof raw.from === 'string' ? { from: raw.from } : {}),
  };
}

function checkImage(raw: unknown, where: string, problems: string[]): ImageOverride | undefined {
  if (!isMapping(raw)) {
    problems.push(`${where} must be a mapping {match, registry, repository, tag}`);
    return undefined;
  }
  unknownFields(raw, ['match', 'registry', 'repository', 'tag'], where, problems);
  if (typeof raw.match !== 'string' || !raw.match) {
    problems.push(`${where}.match is required: the image name to replace parts of (e.g. nginx or ghcr.io/acme/web)`);
    return undefined;
  }
  try {
    const r = parseReference(raw.match);
    if (r.digest || raw.match.slice(raw.match.lastIndexOf('/') + 1).includes(':')) {
      problems.push(`${where}.match "${raw.match}" must name an image without tag or digest`);
    }
  } catch (err) {
    problems.push(`${where}.match: ${(err as Error).message}`);
  }
  const out: ImageOverride = { match: raw.match };
  for (const k of ['registry', 'repository', 'tag'] as const) {
    const v = raw[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !v) problems.push(`${where}.${k} must be a non-empty string`);
    else out[k] = v;
  }
  if (!out.registry && !out.repository && !out.tag) problems.push(`${where}: give registry, repository and/or tag to replace`);
  else {
    try {
      parseReference(formatReference({ registry: out.registry ?? 'example.com', repository: out.repository ?? 'x', tag: out.tag ?? 'latest' }));
    } catch (err) {
      problems.push(`${where}: the replacement does not make a valid reference: ${(err as Error).message}`);
    }
  }
  return out;
}

/** One override; `origin` (`airlock.yaml:20`) is kept for messages and accounts. */
export function checkOverride(raw: unknown, where: string, problems: string[], origin?: string): Override | undefined {
  if (!isMapping(raw)) {
    problems.push(`${where} must be a mapping with clusterSelector and any of values, patches, images`);
    return undefined;
  }
  unknownFields(raw, ['clusterSelector', 'values', 'patches', 'images', 'origin'], where, problems);
  const clusterSelector = checkSelector(raw.clusterSelector, `${where}.clusterSelector`, problems);
  const values = checkValues(raw.values, `${where}.values`, problems);
  const list = (v: unknown, name: string): unknown[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      problems.push(`${where}.${name} must be a list`);
      return [];
    }
    return v;
  };
  const patches = list(raw.patches, 'patches').map((p, i) => checkPatch(p, `${where}.patches[${i}]`, problems)).filter((p): p is PatchOp => !!p);
  const images = list(raw.images, 'images').map((p, i) => checkImage(p, `${where}.images[${i}]`, problems)).filter((p): p is ImageOverride => !!p);
  const o = origin ?? (typeof raw.origin === 'string' ? raw.origin : undefined);
  return {
    ...(o ? { origin: o } : {}),
    ...(clusterSelector ? { clusterSelector } : {}),
    ...(values ? { values } : {}),
    ...(patches.length ? { patches } : {}),
    ...(images.length ? { images } : {}),
  };
}
