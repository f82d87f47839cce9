/**
 * Kubernetes LabelSelector matching and checking (matchLabels; matchExpressions with In, NotIn, Exists,
 * DoesNotExist), as `kubectl get -l` means them. Pure.
 */
import { labelKeyProblem, labelValueProblem } from '../site/labels.js';
import type { LabelSelector } from './types.js';

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

/** Every problem of a selector (in words), empty when it is valid. `where` prefixes each. */
export function selectorProblems(selector: unknown, where: string): string[] {
  const problems: string[] = [];
  if (selector === undefined || selector === null) return problems;
  if (typeof selector !== 'object' || Array.isArray(selector)) return [`${where} must be a mapping with matchLabels and/or matchExpressions`];
  const s = selector as Record<string, unknown>;
  for (const key of Object.keys(s)) {
    if (key !== 'matchLabels' && key !== 'matchExpressions') problems.push(`${where}: unknown field "${key}" (allowed: matchLabels, matchExpressions)`);
  }
  if (s.matchLabels !== undefined) {
    if (typeof s.matchLabels !== 'object' || s.matchLabels === null || Array.isArray(s.matchLabels)) problems.push(`${where}.matchLabels must be a mapping of label keys to values`);
    else {
      for (const [k, v] of Object.entries(s.matchLabels)) {
        const kp = labelKeyProblem(k);
        if (kp) problems.push(`${where}.matchLabels: ${kp}`);
        if (typeof v !== 'string') problems.push(`${where}.matchLabels: label "${k}" must have a string value`);
        else {
          const vp = labelValueProblem(v);
          if (vp) problems.push(`${where}.matchLabels: ${vp}`);
        }
      }
    }
  }
  if (s.matchExpressions !== undefined) {
    if (!Array.isArray(s.matchExpressions)) problems.push(`${where}.matchExpressions must be a list`);
    else {
      s.matchExpressions.forEach((e: unknown, i) => {
        const at = `${where}.matchExpressions[${i}]`;
        if (typeof e !== 'object' || e === null || Array.isArray(e)) {
          problems.push(`${at} must be a mapping with key, operator and values`);
          return;
        }
        const x = e as Record<string, unknown>;
        for (const key of Object.keys(x)) if (!['key', 'operator', 'values'].includes(key)) problems.push(`${at}: unknown field "${key}" (allowed: key, operator, values)`);
        if (typeof x.key !== 'string') problems.push(`${at}.key is required and must be a string`);
        else {
          const kp = labelKeyProblem(x.key);
          if (kp) problems.push(`${at}: ${kp}`);
        }
        if (typeof x.operator !== 'string' || !OPERATORS.includes(x.operator)) {
          problems.push(`${at}: operator ${JSON.stringify(x.operator ?? null)} does not exist (use one of ${OPERATORS.join(', ')})`);
          return;
        }
        const values = x.values;
        if (x.operator === 'In' || x.operator === 'NotIn') {
          if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string')) problems.push(`${at}: operator ${x.operator} needs a non-empty list of string values`);
        } else if (values !== undefined && !(Array.isArray(values) && values.length === 0)) {
          problems.push(`${at}: operator ${x.operator} takes no values`);
        }
      });
    }
  }
  return problems;
}

/** Whether the labels satisfy the selector (every matchLabels pair and every expression). No selector: true. */
export function matchesSelector(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** A short form for accounts: `tier=large, region in (eu,us)`. */
export function describeSelector(selector: LabelSelector | undefined): string {
  if (!selector) return 'every cluster';
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${e.operator === 'In' ? 'in' : 'notin'} (${(e.values ?? []).join(',')})`);
  }
  return parts.length ? parts.join(', ') : 'every cluster';
}
