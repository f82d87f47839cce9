/**
 * Reading a YAML document with every problem named by file and line: the base of the site file and the fleet file
 * readers. Problems are collected (not thrown) so that one run lists them all.
 */
import { type LineCounter, type Node, isMap, isPair, isScalar, type YAMLMap } from 'yaml';
import { labelKeyProblem, labelValueProblem, nameProblem } from './labels.js';
import type { Values } from './site-file.js';

export class YamlReader {
  readonly problems: string[] = [];
  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
  ) {}

  at(node: Node | null | undefined): string {
    const pos = node?.range?.[0] ?? 0;
    return `${this.file}:${this.lines.linePos(pos).line}`;
  }

  problem(node: Node | null | undefined, message: string): void {
    this.problems.push(`${this.at(node)}: ${message}`);
  }

  /** A mapping's entries by key, reporting keys that are not allowed. */
  fields(node: Node | null | undefined, where: string, allowed: string[]): Map<string, Node | null> {
    const out = new Map<string, Node | null>();
    if (!isMap(node)) {
      this.problem(node, `${where} must be a mapping`);
      return out;
    }
    for (const pair of (node as YAMLMap).items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      if (!allowed.includes(key)) this.problem(pair.key as Node, `${where}: unknown field "${key}" (allowed: ${allowed.join(', ')})`);
      else out.set(key, (pair.value as Node | null) ?? null);
    }
    return out;
  }

  string(node: Node | null | undefined, where: string): string | undefined {
    if (isScalar(node) && typeof node.value === 'string' && node.value !== '') return node.value;
    this.problem(node, `${where} must be a non-empty string`);
    return undefined;
  }

  name(node: Node | null | undefined, where: string): string | undefined {
    const n = this.string(node, where);
    if (!n) return undefined;
    const problem = nameProblem(n);
    if (problem) this.problem(node, `${where}: ${problem}`);
    return n;
  }

  labels(node: Node | null | undefined, where: string): Record<string, string> {
    const out: Record<string, string> = {};
    if (node === undefined || node === null) return out;
    if (!isMap(node)) {
      this.problem(node, `${where} must be a mapping of label keys to values`);
      return out;
    }
    for (const pair of (node as YAMLMap).items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      const value = pair.value;
      const keyProblem = labelKeyProblem(key);
      if (keyProblem) this.problem(pair.key as Node, `${where}: ${keyProblem}`);
      if (!isScalar(value) || value.value === null || typeof value.value === 'object') {
        this.problem((value as Node | null) ?? (pair.key as Node), `${where}: label "${key}" must have a string value`);
        continue;
      }
      const text = String(value.value);
      const valueProblem = labelValueProblem(text);
      if (valueProblem) this.problem(value, `${where}: ${valueProblem}`);
      out[key] = text;
    }
    return out;
  }

  values(node: Node | null | undefined, where: string): Values {
    const out: Values = {};
    if (node === undefined || node === null) return out;
    if (!isMap(node)) {
      this.problem(node, `${where} must be a mapping of names to values`);
      return out;
    }
    for (const pair of (node as YAMLMap).items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) this.problem(pair.key as Node, `${where}: value name "${key}" must be letters, digits and "_", not starting with a digit`);
      const value = pair.value;
      if (!isScalar(value) || value.value === null || typeof value.value === 'object') {
        this.problem((value as Node | null) ?? (pair.key as Node), `${where}: "${key}" must be a string, number or boolean`);
        continue;
      }
      out[key] = String(value.value);
    }
    return out;
  }
}
