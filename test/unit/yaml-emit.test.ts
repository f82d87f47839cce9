import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { emitYaml, scalarText } from '../../src/yaml-emit.js';
import { rng } from '../helpers/rng.js';

const TRICKY = [
  '', ' ', 'a b', 'a: b', 'a:', 'a:b', 'a #b', '#x', '- x', '-', '?', '? x', ':', '[x]', '{x}', '*x', '&x', '!x', '|', '>', '%x', '@x', '`x',
  'true', 'True', 'FALSE', 'yes', 'No', 'on', 'OFF', 'y', 'N', 'null', 'Null', '~', '0', '1', '-1', '+1', '1.0', '1e3', '.5', '0x1F', '0o17', '0b101',
  '1_000', '.inf', '-.Inf', '.nan', '2001-12-14', '12:30:00', '1:20', '007', 'a\nb', 'a\n', 'a\n\n', 'a\n\n\n', '\na', ' a\nb', 'a\r\nb', 'tab\there',
  '\ttab first\nx', 'x\n  indented\n', 'end space ', ' lead', 'quote"s', "it's", 'back\\slash', '\u0000nul', '\u007fdel', '\u0085nel', '\u2028ls',
  '\ufeffbom', 'émoji 😀', 'registry.example.com:5000/shop/web:1.0', 'app.kubernetes.io/name', 'a,b', 'a=b', '<<', '=', 'a  b', '\u00a0nbsp',
];

function randomString(r: () => number): string {
  if (r() < 0.5) return TRICKY[Math.floor(r() * TRICKY.length)] ?? '';
  const chars = 'ab Z09_-:#\n\t"\'\\/.{}[],&*!|>%@`?~=+\u0085\u00e9';
  let s = '';
  const n = Math.floor(r() * 12);
  for (let i = 0; i < n; i++) s += chars[Math.floor(r() * chars.length)] ?? '';
  return s;
}

function randomValue(r: () => number, depth: number): unknown {
  const k = r();
  if (depth > 3 || k < 0.45) {
    const t = r();
    if (t < 0.6) return randomString(r);
    if (t < 0.75) return Math.floor(r() * 2000) - 1000;
    if (t < 0.8) return r() * 100;
    if (t < 0.9) return r() < 0.5;
    return null;
  }
  if (k < 0.7) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 5); i > 0; i--) o[randomString(r)] = randomValue(r, depth + 1);
  return o;
}

describe('emitYaml', () => {
  it('gives text that YAML 1.2 reads back as the same data, for 2,000 random documents and every tricky string', () => {
    const r = rng(18);
    for (let i = 0; i < 2000; i++) {
      const v = randomValue(r, 0);
      const text = emitYaml(v);
      expect(parse(text), text).toEqual(v);
    }
    for (const s of TRICKY) {
      expect(parse(emitYaml(s))).toBe(s);
      expect(parse(emitYaml({ [s]: s, list: [s, [s], { [s]: [s] }] }))).toEqual({ [s]: s, list: [s, [s], { [s]: [s] }] });
    }
  });

  it('quotes every string a YAML 1.1 reader (kubectl) would read as a boolean, null or number', () => {
    for (const s of ['yes', 'no', 'on', 'off', 'y', 'n', 'Y', 'NO', 'true', 'null', '~', '1', '0x10', '1_000', '1e3', '.5', '1:20', '2001-12-14', '=', '<<']) {
      expect(scalarText(s).startsWith('"'), s).toBe(true);
    }
    for (const s of ['web', 'registry.example.com/shop/web:1.0', 'app.kubernetes.io/name', 'a b']) expect(scalarText(s)).toBe(s);
  });

  it('writes Kubernetes objects in the block style people read: literal blocks, nested lists, sorted keys on request', () => {
    const o = {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name: 'x', labels: {}, annotations: { note: 'a: b' } },
      data: { 'script.sh': '#!/bin/sh\necho hi\n', raw: 'no newline\nat end', keep: 'two\n\n' },
      list: [{ name: 'a', ports: [80, 443] }, [1, [2, 3]], []],
      skipped: undefined,
    };
    const text = emitYaml(o, { sortKeys: true });
    expect(text).toBe(
      [
        'apiVersion: v1',
        'data:',
        '  keep: |+',
        '    two',
        '',
        '  raw: |-',
        '    no newline',
        '    at end',
        '  script.sh: |',
        '    #!/bin/sh',
        '    echo hi',
        'kind: ConfigMap',
        'list:',
        '  - name: a',
        '    ports:',
        '      - 80',
        '      - 443',
        '  - - 1',
        '    - - 2',
        '      - 3',
        '  - []',
        'metadata:',
        '  annotations:',
        '    note: "a: b"',
        '  labels: {}',
        '  name: x',
        '',
      ].join('\n'),
    );
    const { skipped: _, ...rest } = o;
    expect(parse(text)).toEqual(rest);
    expect(parseAllDocuments(`---\n${text}---\n${emitYaml(o)}`).map((d) => d.toJS() as unknown)).toEqual([rest, rest]);
  });

  it('writes special numbers and top-level scalars YAML reads back', () => {
    expect(parse(emitYaml([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e21, -0.5]))).toEqual([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e21, -0.5]);
    for (const v of ['text', 'two\nlines', 42, true, null, [], {}]) expect(parse(emitYaml(v))).toEqual(v);
  });
});
