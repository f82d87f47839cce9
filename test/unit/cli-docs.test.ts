/** The contract lives in docs/: every command and flag is documented there, and nothing points outside the repo. */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandRefs, loadCommands } from '../../bin/main.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('docs/ holds the contract', () => {
  it('docs/cli.md names every command and every flag', async () => {
    const doc = await readFile(join(ROOT, 'docs', 'cli.md'), 'utf8');
    const missing: string[] = [];
    for (const c of await loadCommands()) {
      const name = `airlock ${c.path.join(' ')}`;
      const at = doc.indexOf(`### \`${name}\``);
      if (at < 0) missing.push(name);
      const section = doc.slice(at, doc.indexOf('\n### ', at + 1) >>> 0);
      for (const flag of Object.keys(c.options)) if (!section.includes(`--${flag}`)) missing.push(`${name} --${flag}`);
    }
    expect(missing).toEqual([]);
  });

  it('each command is listed under its own words, so that it loads only when those words are given', async () => {
    const loaded = await loadCommands();
    expect(loaded.map((c) => c.path)).toEqual(commandRefs.map((r) => r.path));
    expect(new Set(commandRefs.map((r) => r.path.join(' '))).size).toBe(commandRefs.length);
  });

  it('README, docs and code point at no document outside the repository', async () => {
    const offenders: string[] = [];
    const visit = async (dir: string): Promise<void> => {
      for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await visit(path);
        else if (/\.(ts|js|md|sh)$/.test(entry.name) && (await readFile(join(ROOT, path), 'utf8')).match(/\.\.\/shared\/|\/shared\/[A-Z-]+\.md|\bCLI\.md\b/)) offenders.push(path);
      }
    };
    for (const dir of ['src', 'keys', 'bundler', 'appliance', 'bin', 'docs']) await visit(dir);
    if ((await readFile(join(ROOT, 'README.md'), 'utf8')).match(/\.\.\/shared\/|\bCLI\.md\b/)) offenders.push('README.md');
    expect(offenders).toEqual([]);
    for (const doc of ['cli.md', 'spec.md', 'http-api.md', 'json.md']) expect(await readFile(join(ROOT, 'docs', doc), 'utf8')).toMatch(/^# .*the contract\n/);
  });
});
