/** Git repositories made with the real git CLI. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from './exec.js';

const env = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t.invalid', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t.invalid' };

export async function gitInit(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run('git', ['init', '-q', '-b', 'main', dir]);
}

/** Writes files and commits them; returns the new commit id. */
export async function gitCommit(dir: string, files: Record<string, string>, message: string): Promise<string> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  await run('git', ['-C', dir, 'add', '-A'], { env });
  await run('git', ['-C', dir, 'commit', '-q', '-m', message], { env });
  return (await run('git', ['-C', dir, 'rev-parse', 'HEAD'])).trim();
}
