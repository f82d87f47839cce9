import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { fastPathAllowed, loadSlow, loadYaml } from '../../src/yaml-load.js';
import { rng } from '../helpers/rng.js';

/** Plain scalars where YAML readers disagree: every one must read as the `yaml` library's core schema reads it. */
const SCALARS = [
  '0', '-0', '+1', '017', '0o17', '0x1F', '0X1F', '0b101', '-0x1F', '+0o7', '1_000', '.5', '-.5', '+.5', '1.', '1e3', '1E3', '1e+3', '-1.5e-3',
  '+.inf', '.Inf', '-.INF', '.nan', '.NaN', 'NaN', 'Infinity', 'true', 'True', 'TRUE', 'tRue', 'yes', 'on', 'off', 'null', 'Null', 'NULL', '~',
  '2001-12-14', '12:30', '1:20:00', '00', '0e0', '123456789012345678901234567890', 'a b', 'x:y', '<<', '=', '"quoted"', "'single'", '"\\u00e9\\t"',
];

function randomValue(r: () => number, depth: number): unknown {
  const k = r();
  if (depth > 3 || k < 0.5) {
    const t = r();
    if (t < 0.5) return SCALARS[Math.floor(r() * SCALARS.length)];
    if (t < 0.7) return Math.floor(r() * 2000) - 1000;
    if (t < 0.8) return r() < 0.5;
    if (t < 0.9) return null;
    return `line one\nline ${Math.floor(r() * 9)}\n`;
  }
  if (k < 0.7) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 5); i > 0; i--) o[String(SCALARS[Math.floor(r() * SCALARS.length)])] = randomValue(r, depth + 1);
  return o;
}

const same = (text: string) => expect(loadYaml(text), text).toEqual(loadSlow(text));

describe('loadYaml', () => {
  it('reads every scalar exactly as the yaml library core schema does, as a value and as a key', () => {
    for (const s of SCALARS) {
      same(`k: ${s}\n`);
      same(`${s}: v\n`);
      same(`- ${s}\n- [${s}, ${s}]\n- {k: ${s}}\n`);
    }
  });

  it('agrees with the yaml library on 600 random documents written in block and flow styles', () => {
    const r = rng(15);
    let fast = 0;
    for (let i = 0; i < 600; i++) {
      const v = randomValue(r, 0);
      if (fastPathAllowed(stringify(v))) fast++;
      same(stringify(v));
      same(stringify(v, { collectionStyle: 'flow' }));
      same(stringify(v, { defaultStringType: 'QUOTE_SINGLE' }));
    }
    expect(fast).toBeGreaterThan(400); // the comparison covered the fast path, not only the fallback
  });

  it('takes the fast path for the Kubernetes objects people write', () => {
    const deployment = `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web # the shop\n  labels: {app: web, tier: "1"}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com/shop/web:1.0\n          args: ["--port=8080", '--x']\n          env:\n            - {name: A, value: "x: y"}\n          command:\n            - sh\n            - -c\n            - |\n              echo hi\n`;
    expect(fastPathAllowed(deployment)).toBe(true);
    same(deployment);
    expect(loadYaml(deployment).value).toMatchObject({ spec: { replicas: 3, template: { spec: { containers: [{ args: ['--port=8080', '--x'], command: ['sh', '-c', 'echo hi\n'] }] } } } });
  });

  it('leaves to the yaml library what the two would read differently, and reports its errors', () => {
    for (const t of ['', '# only a comment\n', 'null: x\n', '~: x\n', ': x\n', '? [a, b]\n: c\n', '[a, b]: c\n', '{a: b}: c\n', 'a: &x {b: 1}\nc: *x\n', 'a: !!binary aGk=\n', 'a: !foo x\n', '%YAML 1.1\n---\na: yes\n', 'a: 1\na: 2\n', 'a: [1\n', 'a:\n\t- b\n', 'a: *nowhere\n']) {
      same(t);
    }
    expect(loadYaml('a: 1\na: 2\n').error).toMatch(/unique/);
    expect(loadYaml('').value).toBeNull();
  });
});
