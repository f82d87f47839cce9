/**
 * Git snapshots: fetch a repository (remote URL or local path) at a ref with isomorphic-git, then write a git
 * bundle holding every object reachable from the commit — less what `haves` commits already reach, for deltas.
 */
import * as fs from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { AirlockError, errorMessage } from '../errors.js';
import { type GitObjectType, type WrittenGitBundle, writeGitBundle } from './bundle-file.js';
import type IsoGitModule from 'isomorphic-git';
import type IsoHttpModule from 'isomorphic-git/http/node';

type IsoGit = typeof IsoGitModule;
type IsoHttp = typeof IsoHttpModule;
let isoGitLoaded: Promise<{ git: IsoGit; http: IsoHttp }> | undefined;
/** isomorphic-git, loaded on first use: its SHA-1 and buffer modules cost 0.15 s at start to every command. */
function isoGit(): Promise<{ git: IsoGit; http: IsoHttp }> {
  isoGitLoaded ??= Promise.all([import('isomorphic-git'), import('isomorphic-git/http/node')]).then(([g, h]) => ({ git: g.default, http: h.default }));
  return isoGitLoaded;
}

export interface GitSource {
  /** The git directory to read objects from. */
  gitdir: string;
  commit: string;
  /** Full ref name the snapshot records, e.g. refs/heads/main; `HEAD`-style names for a bare commit. */
  refName: string;
}

export interface FetchSourceOptions {
  url: string;
  ref: string;
  /** Where remote repositories are fetched to (a scratch directory). */
  workDir: string;
  /** Relative local paths are resolved against this. */
  baseDir?: string;
  onProgress?: (message: string) => void;
}

const SHA1 = /^[0-9a-f]{40}$/;

export function isRemoteUrl(url: string): boolean {
  return /^(https?|git|ssh):\/\//.test(url);
}

/** Finds the commit a ref names, fetching a remote repository first. */
export async function fetchSource({ url, ref, workDir, baseDir = process.cwd(), onProgress }: FetchSourceOptions): Promise<GitSource> {
  const { git, http } = await isoGit();
  const what = `git ${url} at ${ref}`;
  let gitdir: string;
  if (isRemoteUrl(url)) {
    if (!/^https?:\/\//.test(url)) throw new AirlockError('GIT_ERROR', `${what}: only http(s) remotes and local paths are supported`);
    gitdir = join(workDir, 'repo.git');
    await mkdir(gitdir, { recursive: true });
    try {
      await git.init({ fs, gitdir, bare: true });
      await git.addRemote({ fs, gitdir, remote: 'origin', url, force: true });
      onProgress?.(`fetching ${url}`);
      const result = await git.fetch({ fs, http, gitdir, remote: 'origin', ...(SHA1.test(ref) ? {} : { ref, singleBranch: true }), tags: true });
      if (!SHA1.test(ref) && result.fetchHead) {
        return { gitdir, commit: await peelToCommit(gitdir, result.fetchHead, what), refName: await remoteRefName(gitdir, ref) };
      }
    } catch (err) {
      if (err instanceof AirlockError) throw err;
      throw new AirlockError('GIT_ERROR', `${what}: fetch failed (${errorMessage(err)})`, { cause: err });
    }
  } else {
    const path = resolvePath(baseDir, url.replace(/^file:\/\//, ''));
    gitdir = (await isDir(join(path, '.git'))) ? join(path, '.git') : path;
    if (!(await isDir(join(gitdir, 'objects')))) throw new AirlockError('GIT_ERROR', `${what}: ${path} is not a git repository`);
  }
  return resolveLocal(gitdir, ref, what);
}

async function resolveLocal(gitdir: string, ref: string, what: string): Promise<GitSource> {
  const { git } = await isoGit();
  if (SHA1.test(ref)) return { gitdir, commit: await peelToCommit(gitdir, ref, what), refName: 'refs/heads/snapshot' };
  for (const candidate of [`refs/heads/${ref}`, `refs/tags/${ref}`, `refs/remotes/origin/${ref}`, ref]) {
    try {
      const oid = await git.resolveRef({ fs, gitdir, ref: candidate });
      const refName = candidate.startsWith('refs/remotes/origin/') ? `refs/heads/${ref}` : candidate.startsWith('refs/') ? candidate : `refs/heads/${ref}`;
      return { gitdir, commit: await peelToCommit(gitdir, oid, what), refName };
    } catch {
      // try the next form
    }
  }
  throw new AirlockError('GIT_ERROR', `${what}: no branch, tag or commit named ${ref}`);
}

async function remoteRefName(gitdir: string, ref: string): Promise<string> {
  const { git } = await isoGit();
  if (ref.startsWith('refs/')) return ref;
  const tags = await git.listTags({ fs, gitdir }).catch(() => [] as string[]);
  return tags.includes(ref) ? `refs/tags/${ref}` : `refs/heads/${ref}`;
}

async function peelToCommit(gitdir: string, oid: string, what: string): Promise<string> {
  const { git } = await isoGit();
  let current = oid;
  for (let depth = 0; depth < 10; depth++) {
    let obj;
    try {
      obj = await git.readObject({ fs, gitdir, oid: current, format: 'parsed' });
    } catch (err) {
      throw new AirlockError('GIT_ERROR', `${what}: object ${current} is not in the repository`, { cause: err });
    }
    if (obj.type === 'commit') return current;
    if (obj.type === 'tag') {
      current = (obj.object as { object: string }).object;
      continue;
    }
    throw new AirlockError('GIT_ERROR', `${what}: ${oid} is a ${obj.type}, not a commit`);
  }
  throw new AirlockError('GIT_ERROR', `${what}: tag chain too deep`);
}

/**
 * Every object reachable from `commits`, in pack order (commits, then their trees and blobs), less `exclude`.
 * Excluded commits met on the walk are added to `boundary`: a bundle of the result needs exactly those.
 */
export async function reachableObjects(gitdir: string, commits: string[], exclude: Set<string> = new Set(), boundary?: Set<string>): Promise<string[]> {
  const { git } = await isoGit();
  const seen = new Set<string>();
  const order: string[] = [];
  const stack = [...commits];
  const trees: string[] = [];
  while (stack.length) {
    const oid = stack.pop();
    if (oid && exclude.has(oid)) boundary?.add(oid);
    if (!oid || seen.has(oid) || exclude.has(oid)) continue;
    seen.add(oid);
    order.push(oid);
    const { commit } = await git.readCommit({ fs, gitdir, oid });
    trees.push(commit.tree);
    stack.push(...commit.parent);
  }
  const treeStack = [...trees];
  while (treeStack.length) {
    const oid = treeStack.pop();
    if (!oid || seen.has(oid) || exclude.has(oid)) continue;
    seen.add(oid);
    order.push(oid);
    const { tree } = await git.readTree({ fs, gitdir, oid });
    for (const entry of tree) {
      if (entry.type === 'tree') treeStack.push(entry.oid);
      else if (entry.type === 'blob' && !seen.has(entry.oid) && !exclude.has(entry.oid)) {
        seen.add(entry.oid);
        order.push(entry.oid);
      }
      // 'commit' entries are submodules: not part of this repository's objects.
    }
  }
  return order;
}

export interface SnapshotBundleOptions {
  source: GitSource;
  out: string;
  /** Commits the receiving side holds (unknown ones are ignored): their objects are left out; those the new commits build on become prerequisites. */
  haves?: string[];
}

export async function writeSnapshotBundle({ source, out, haves = [] }: SnapshotBundleOptions): Promise<WrittenGitBundle & { prerequisites: string[] }> {
  const { git } = await isoGit();
  const { gitdir, commit, refName } = source;
  const held: string[] = [];
  for (const oid of haves) if (await hasObject(gitdir, oid)) held.push(oid);
  const exclude = held.length ? new Set(await reachableObjects(gitdir, held)) : new Set<string>();
  // Prerequisites are the held commits the new ones build on (git's own "boundary"), or the commit itself when
  // the base holds it already; not every commit the base holds.
  const boundary = new Set<string>();
  const oids = await reachableObjects(gitdir, [commit], exclude, boundary);
  const prerequisites = [...boundary].sort();
  const written = await writeGitBundle(out, { refs: [{ oid: commit, name: refName }, { oid: commit, name: 'HEAD' }], prerequisites }, oids, async (oid) => {
    const obj = await git.readObject({ fs, gitdir, oid, format: 'content' });
    return { type: obj.type as GitObjectType, content: obj.object as Uint8Array };
  });
  return { ...written, prerequisites };
}

async function hasObject(gitdir: string, oid: string): Promise<boolean> {
  const { git } = await isoGit();
  try {
    await git.readObject({ fs, gitdir, oid, format: 'deflated' });
    return true;
  } catch {
    return false;
  }
}

/** The files under `path` in the commit's tree (for manifests kept in Git), with their contents. */
export async function readTreeFiles(gitdir: string, commit: string, path: string): Promise<{ path: string; content: Buffer }[]> {
  const { git } = await isoGit();
  const clean = path.replace(/^\.?\/+/, '').replace(/\/+$/, '');
  const { commit: c } = await git.readCommit({ fs, gitdir, oid: commit });
  let oid = c.tree;
  let isTree = true;
  for (const part of clean ? clean.split('/') : []) {
    if (!isTree) throw new AirlockError('GIT_ERROR', `manifests path ${path} does not exist at ${commit.slice(0, 12)}`);
    const { tree } = await git.readTree({ fs, gitdir, oid });
    const entry = tree.find((e) => e.path === part);
    if (!entry) throw new AirlockError('GIT_ERROR', `manifests path ${path} does not exist at ${commit.slice(0, 12)}`);
    oid = entry.oid;
    isTree = entry.type === 'tree';
  }
  if (!isTree) return [{ path: clean, content: Buffer.from((await git.readBlob({ fs, gitdir, oid })).blob) }];
  const files: { path: string; content: Buffer }[] = [];
  const walk = async (treeOid: string, prefix: string) => {
    const { tree } = await git.readTree({ fs, gitdir, oid: treeOid });
    for (const entry of tree) {
      const p = prefix ? `${prefix}/${entry.path}` : entry.path;
      if (entry.type === 'tree') await walk(entry.oid, p);
      else if (entry.type === 'blob') files.push({ path: p, content: Buffer.from((await git.readBlob({ fs, gitdir, oid: entry.oid })).blob) });
    }
  };
  await walk(oid, clean);
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
