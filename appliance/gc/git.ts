/**
 * Git side of retention: every import stages its snapshot under `refs/airlock/staged/COMMIT`, which keeps its
 * objects alive. Staged refs of commits no kept release names are deleted, then `git gc --prune=now` drops what
 * only they reached. Published branches (and the history behind them) stay.
 */
import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AirlockError } from '../../src/errors.js';

const run = promisify(execFile);
const STAGED = 'refs/airlock/staged/';

export interface GitCollection {
  /** mirror name → staged commits to drop */
  refs: { name: string; commits: string[] }[];
  /** bytes freed (measured after a run; estimated by `git rev-list --disk-usage` for a dry run) */
  bytes: number;
}

async function git(repo: string, args: string[]): Promise<string> {
  try {
    return (await run('git', ['-C', repo, ...args], { maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new AirlockError('GIT_ERROR', `garbage collection in ${repo}: ${(e.stderr || e.message).trim().split('\n').pop()}`, { cause: err });
  }
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(path);
    else if (entry.isFile()) total += (await stat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/**
 * Drops the staged refs of commits not in `keep` (mirror name → commits kept releases stage) in every mirror
 * under `root`, and prunes the objects only they reached. With `dryRun`, only reports.
 */
export async function collectGit(root: string, keep: Map<string, Set<string>>, dryRun: boolean): Promise<GitCollection> {
  const out: GitCollection = { refs: [], bytes: 0 };
  const repos = (await readdir(root).catch(() => [] as string[])).filter((n) => n.endsWith('.git')).sort();
  for (const entry of repos) {
    const name = entry.slice(0, -4);
    const repo = join(root, entry);
    const kept = keep.get(name) ?? new Set<string>();
    const staged = (await git(repo, ['for-each-ref', '--format=%(refname)', STAGED])).split('\n').filter(Boolean);
    const drop = staged.map((r) => r.slice(STAGED.length)).filter((c) => !kept.has(c));
    if (!drop.length) continue;
    out.refs.push({ name, commits: drop });
    if (dryRun) {
      const others = staged.filter((r) => !drop.includes(r.slice(STAGED.length)));
      const usage = await git(repo, ['rev-list', '--objects', '--disk-usage', ...drop, '--not', '--branches', '--tags', ...others]);
      out.bytes += Number(usage.trim()) || 0;
      continue;
    }
    const before = await treeBytes(join(repo, 'objects'));
    const child = execFile('git', ['-C', repo, 'update-ref', '--stdin']);
    const done = new Promise<void>((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new AirlockError('GIT_ERROR', `deleting staged refs in mirror ${name} failed (exit ${code})`)))));
    child.stdin?.end(drop.map((c) => `delete ${STAGED}${c}\n`).join(''));
    await done;
    await git(repo, ['gc', '--quiet', '--prune=now']);
    out.bytes += Math.max(0, before - (await treeBytes(join(repo, 'objects'))));
  }
  return out;
}
