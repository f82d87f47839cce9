/**
 * The Git mirror: one bare repository per snapshot name under DATA/git/NAME.git. Importing fetches a snapshot's
 * objects from its git bundle (invisible until a ref points at them); publishing moves the branch to the
 * snapshot's commit. History accumulates across bundles. Uses the system's `git`.
 *
 * The staging refs (`refs/airlock/staged/COMMIT`) are internal: hidden from clients by `transfer.hideRefs` (set in
 * each repository and passed to every `git http-backend`) and left out of the dumb-HTTP `info/refs` (which the
 * HTTP side serves itself).
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { AirlockError } from '../../src/errors.js';
import { fsyncDir, writeFileAtomic } from '../../src/fs-atomic.js';
import { MIRROR_SERVE_CONFIG, visibleRefLine } from './http-backend.js';

const run = promisify(execFile);
const NAME_RE = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;

export class GitMirror {
  /** Mirrors whose durability settings were checked by this process. */
  private readonly durable = new Set<string>();

  constructor(readonly root: string) {}

  repoPath(name: string): string {
    if (!NAME_RE.test(name)) throw new AirlockError('GIT_ERROR', `invalid git snapshot name ${name}`);
    return join(this.root, `${name}.git`);
  }

  private async git(args: string[], what: string): Promise<string> {
    try {
      const { stdout } = await run('git', args, { maxBuffer: 16 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new AirlockError('GIT_ERROR', `${what}: ${(e.stderr || e.message).trim().split('\n').pop()}`, { cause: err });
    }
  }

  private async ensureRepo(name: string): Promise<string> {
    const path = this.repoPath(name);
    try {
      await stat(join(path, 'objects'));
    } catch {
      await mkdir(path, { recursive: true });
      await this.git(['init', '-q', '--bare', path], `creating mirror ${name}`);
      await this.git(['-C', path, 'config', 'http.uploadpack', 'true'], `configuring mirror ${name}`);
      await this.git(['-C', path, 'config', 'http.receivepack', 'false'], `configuring mirror ${name}`);
      for (const [key, value] of MIRROR_SERVE_CONFIG) await this.git(['-C', path, 'config', key, value], `configuring mirror ${name}`);
    }
    if (!this.durable.has(path)) {
      // Git fsyncs objects, packs and refs before renaming them into place (ADR 009); set on old mirrors too.
      const config = await readFile(join(path, 'config'), 'utf8').catch(() => '');
      if (!/^\s*fsync\s*=\s*all\s*$/im.test(config)) await this.git(['-C', path, 'config', 'core.fsync', 'all'], `configuring mirror ${name}`);
      if (!/^\s*fsyncMethod\s*=\s*fsync\s*$/im.test(config)) await this.git(['-C', path, 'config', 'core.fsyncMethod', 'fsync'], `configuring mirror ${name}`);
      this.durable.add(path);
    }
    return path;
  }

  /** Fetches the bundle's objects under a staging ref; branches do not move. Idempotent. */
  async stage(name: string, bundleFile: string, commit: string): Promise<void> {
    if (name === 'rendered') throw new AirlockError('GIT_ERROR', 'the Git snapshot name "rendered" is reserved: /git/rendered.git serves the rendered branches (ADR 017); rename the snapshot in the spec');
    const path = await this.ensureRepo(name);
    await this.git(['-C', path, 'bundle', 'verify', '-q', bundleFile], `git snapshot ${name}: the repository lacks the bundle's prerequisite commits`);
    await this.git(['-C', path, 'fetch', '-q', '--no-tags', bundleFile, `+HEAD:refs/airlock/staged/${commit}`], `git snapshot ${name}`);
    // git fsyncs the pack but not the directory it renames it into: the record that follows must find it
    await fsyncDir(join(path, 'objects', 'pack'));
  }

  /** Of `commits`, those the mirror `name` does not hold (all of them when there is no such mirror yet). */
  async missingCommits(name: string, commits: string[]): Promise<string[]> {
    if (!commits.length) return [];
    const path = this.repoPath(name);
    if (!(await stat(join(path, 'objects')).then(() => true, () => false))) return [...commits];
    const out = await this.batchCheck(path, commits);
    return commits.filter((c, i) => !/^[a-f0-9]{40} commit /.test(out[i] ?? ''));
  }

  /** The files under `path` at `commit` (the manifests of a Git snapshot). */
  async readFiles(name: string, commit: string, path: string): Promise<{ path: string; content: Buffer }[]> {
    const repo = this.repoPath(name);
    const clean = path.replace(/^\.?\/+/, '').replace(/\/+$/, '');
    const list = await this.git(['-C', repo, 'ls-tree', '-r', '-z', '--name-only', commit, '--', clean], `git mirror ${name}`);
    const out: { path: string; content: Buffer }[] = [];
    for (const file of list.split('\0').filter(Boolean)) {
      const { stdout } = await run('git', ['-C', repo, 'cat-file', 'blob', `${commit}:${file}`], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
      out.push({ path: file, content: stdout as unknown as Buffer });
    }
    return out;
  }

  /** Every commit reachable from each mirror's published branches and tags, sorted, per mirror. */
  async heldCommits(): Promise<{ name: string; commits: string[] }[]> {
    const names = (await readdir(this.root).catch(() => [] as string[])).filter((n) => n.endsWith('.git')).map((n) => n.slice(0, -4)).sort();
    const out: { name: string; commits: string[] }[] = [];
    for (const name of names) {
      const path = this.repoPath(name);
      const refs = await this.git(['-C', path, 'for-each-ref', '--format=%(objectname)', 'refs/heads', 'refs/tags'], `git mirror ${name}`);
      const commits = refs.trim() ? (await this.git(['-C', path, 'rev-list', '--branches', '--tags'], `git mirror ${name}`)).split('\n').filter(Boolean).sort() : [];
      out.push({ name, commits });
    }
    return out;
  }

  private batchCheck(path: string, objects: string[]): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const child = execFile('git', ['-C', path, 'cat-file', '--batch-check'], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => {
        if (err) reject(new AirlockError('GIT_ERROR', `checking commits in ${path}: ${err.message}`, { cause: err }));
        else resolve(stdout.split('\n'));
      });
      child.stdin?.end(`${objects.join('\n')}\n`);
    });
  }

  /** Points `ref` (and HEAD) at `commit`, which must have been staged. Idempotent. */
  async publish(name: string, ref: string, commit: string): Promise<void> {
    const path = await this.ensureRepo(name);
    const branch = ref.startsWith('refs/') ? ref : `refs/heads/${ref}`;
    await this.git(['-C', path, 'update-ref', branch, commit], `git mirror ${name}`);
    if (branch.startsWith('refs/heads/')) await this.git(['-C', path, 'symbolic-ref', 'HEAD', branch], `git mirror ${name}`);
    else await this.git(['-C', path, 'update-ref', '--no-deref', 'HEAD', commit], `git mirror ${name}`);
    await this.git(['-C', path, 'update-server-info'], `git mirror ${name}`);
    await fsyncDir(dirname(join(path, branch))); // the ref's own name (git fsynced its contents)
    await this.hideInDumbRefs(path);
  }

  /** `update-server-info` lists every ref (it ignores hideRefs): the internal ones are taken out again. */
  private async hideInDumbRefs(path: string): Promise<void> {
    const file = join(path, 'info', 'refs');
    const text = await readFile(file, 'utf8').catch(() => '');
    const kept = text.split('\n').filter(visibleRefLine);
    const out = kept.length ? `${kept.join('\n')}\n` : '';
    if (out !== text) await writeFileAtomic(file, out);
  }
}
