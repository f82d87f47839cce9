/**
 * parseManifests reads plain files document by document with the fast reader (ADR 021) and everything else whole
 * with the `yaml` library: both readings must give the same objects, the same lines and the same errors.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ManifestDocument, parseManifests, parseWhole } from '../../src/manifests/documents.js';
import { rng } from '../helpers/rng.js';

const root = join(import.meta.dirname, '..', '..');

async function yamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await yamlFiles(path)));
    else if (/\.(ya?ml|json)$/.test(e.name)) out.push(path);
  }
  return out;
}

/** The outcome of a reading: its documents, or its error's code and message. */
function outcome(read: () => ManifestDocument[]): unknown {
  try {
    return read();
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
}

const same = (text: string, file = 'm.yaml') => expect(outcome(() => parseManifests(text, file))).toEqual(outcome(() => parseWhole(text, file)));

describe('parseManifests', () => {
  it('reads every YAML and JSON file of the repository as the yaml library does, objects and lines', async () => {
    const files = [...(await yamlFiles(join(root, 'test', 'fixtures'))), ...(await yamlFiles(join(root, 'deploy'))), ...(await yamlFiles(join(root, 'examples')).catch(() => []))];
    expect(files.length).toBeGreaterThan(40);
    let documents = 0;
    for (const path of files) {
      const text = await readFile(path, 'utf8');
      const file = relative(root, path);
      const whole = outcome(() => parseWhole(text, file));
      expect(outcome(() => parseManifests(text, file)), file).toEqual(whole);
      if (Array.isArray(whole)) documents += whole.length;
    }
    expect(documents).toBeGreaterThan(50);
  });

  it('agrees on separators, comments, lists, empty documents, inline content and ends', () => {
    same('# leading comment\n\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n\n# c\n---\nkind: B\n...\n---\nkind: C\n');
    same('--- kind: Inline\n--- # only a comment\n---\nkind: D\n');
    same('--- # only a comment\nkind: E\n---\n--- |\n  a block scalar\n');
    same('apiVersion: v1\nkind: List\nitems:\n- kind: A\n- kind: B\n---\nkind: C\ndata:\n  text: |\n    line one\n    ---not a marker\n');
    same('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}, "data": {"n": "1"}}\n', 'm.json');
    same('kind: A\nvalues: [yes, no, on, 0x1F, 0o7, 1e3, .5, -.inf, ~, null, "007"]\n');
    same('\n\n---\n---\n');
  });

  it('agrees on 500 random files pieced from documents, comments, blank lines and separators', () => {
    const pieces = [
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: {app: "1", tier: web}\ndata:\n  a: "yes"\n  b: |\n    two\n    lines\n',
      'kind: List\nitems:\n  - kind: A\n    spec: {replicas: 3}\n  - {kind: B}\n',
      'kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          args: ["--x=1", on, 012, 1.5e3]\n',
      '{"kind": "J", "n": [1, 2.5, null, true]}\n',
      '# a comment\n',
      '\n',
      '---\n',
      '--- # marker with a comment\n',
      '...\n',
      'kind: Bad\n  indent: wrong\n',
      '- a list document\n',
    ];
    const next = rng(42);
    let fast = 0;
    for (let i = 0; i < 500; i++) {
      let text = '';
      const n = 1 + Math.floor(next() * 8);
      for (let j = 0; j < n; j++) {
        // every fifth file may hold a bad document too
        const piece = pieces[Math.floor(next() * (i % 5 === 0 ? pieces.length : pieces.length - 2))] ?? '';
        const plain = piece.startsWith('---') || piece.startsWith('...') || piece === '\n' || piece.startsWith('#');
        const needsMarker = !plain && /^[a-z{-]/m.test(text.split('---\n').pop() ?? '');
        text += `${needsMarker ? '---\n' : ''}${piece}`;
      }
      same(text, `r${i}.yaml`);
      if (!/Bad|- a list/.test(text)) fast++;
    }
    expect(fast).toBeGreaterThan(300);
  });

  it('gives the yaml library\'s errors, with their lines, for anything else', () => {
    same('kind: A\n---\n- a list\n');
    same('kind: A\n---\njust text\n');
    same('kind: A\n---\nkind: B\nkind: B\n');
    same('kind: A\n---\nmetadata: {name: [unclosed\n');
    same('%YAML 1.2\n---\nkind: A\n');
    same('base: &b {x: 1}\nkind: A\nextra: *b\n');
    expect(() => parseManifests('kind: A\n---\nkind: B\n  bad: indent\n', 'bad.yaml')).toThrow(/bad\.yaml:\d+: invalid YAML/);
  });
});
