/** Git snapshots with real git on both sides: fetched by isomorphic-git, verified and cloned by plain git. */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchSource, readTreeFiles, writeSnapshotBundle } from '../../src/git/snapshot.js';
import { exec, run } from '../helpers/exec.js';
import { gitCommit, gitInit } from '../helpers/git-repo.js';
import { type GitHttpServer, startGitHttp } from '../helpers/git-http.js';

let dir: string;
let repo: string;
let first: string;
let second: string;
let third: string;
let server: GitHttpServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-git-'));
  repo = join(dir, 'platform');
  await gitInit(repo);
  first = await gitCommit(repo, { 'clusters/store/a.yaml': 'kind: ConfigMap\n', 'README.md': 'one\n' }, 'one');
  second = await gitCommit(repo, { 'clusters/store/b.yaml': 'kind: Secret\n', 'bin/tool': 'x'.repeat(10_000) }, 'two');
  await run('git', ['-C', repo, 'tag', '-a', 'v2', '-m', 'release two'], { env: { GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t.invalid' } });
  await run('git', ['-C', repo, 'checkout', '-q', '-b', 'next']);
  third = await gitCommit(repo, { 'clusters/store/c.yaml': 'kind: Service\n' }, 'three');
  await run('git', ['-C', repo, 'checkout', '-q', 'main']);
  await run('git', ['clone', '-q', '--bare', repo, join(dir, 'served', 'platform.git')]);
  server = await startGitHttp(join(dir, 'served'));
});

afterAll(async () => {
  await server?.stop();
});

async function bundleAndClone(source: Awaited<ReturnType<typeof fetchSource>>, name: string): Promise<string> {
  const file = join(dir, `${name}.bundle`);
  await writeSnapshotBundle({ source, out: file });
  const check = join(dir, `${name}-check`);
  await run('git', ['init', '-q', check]);
  const verified = await exec('git', ['-C', check, 'bundle', 'verify', file]);
  expect(verified.code, verified.stderr).toBe(0);
  await run('git', ['clone', '-q', file, join(dir, `${name}-clone`)]);
  return (await run('git', ['-C', join(dir, `${name}-clone`), 'rev-parse', 'HEAD'])).trim();
}

describe('git snapshots', () => {
  it.each([
    ['a branch', 'main', () => second, 'refs/heads/main'],
    ['another branch', 'next', () => third, 'refs/heads/next'],
    ['an annotated tag (peeled to its commit)', 'v2', () => second, 'refs/tags/v2'],
    ['a commit id', 'FIRST', () => first, 'refs/heads/snapshot'],
  ])('from a local path at %s', async (_what, ref, commit, refName) => {
    const source = await fetchSource({ url: './platform', ref: ref === 'FIRST' ? first : ref, workDir: join(dir, 'w'), baseDir: dir });
    expect(source.commit).toBe(commit());
    expect(source.refName).toBe(refName);
    expect(await bundleAndClone(source, `local-${ref}`)).toBe(commit());
  });

  it('from a remote over Git smart HTTP (git http-backend)', async () => {
    const source = await fetchSource({ url: `${server.url}/platform.git`, ref: 'main', workDir: await mkdtemp(join(dir, 'remote-')) });
    expect(source.commit).toBe(second);
    expect(await bundleAndClone(source, 'remote')).toBe(second);
    const files = await readTreeFiles(source.gitdir, source.commit, 'clusters/store');
    expect(files.map((f) => f.path)).toEqual(['clusters/store/a.yaml', 'clusters/store/b.yaml']);
    expect(await readFile(join(dir, 'remote-clone', 'bin/tool'), 'utf8')).toHaveLength(10_000);
  });

  it('fails clearly for an unknown ref, a missing path and a non-repository', async () => {
    await expect(fetchSource({ url: './platform', ref: 'nope', workDir: dir, baseDir: dir })).rejects.toThrow('no branch, tag or commit named nope');
    await expect(fetchSource({ url: './nowhere', ref: 'main', workDir: dir, baseDir: dir })).rejects.toThrow('is not a git repository');
    await expect(fetchSource({ url: `${server.url}/missing.git`, ref: 'main', workDir: await mkdtemp(join(dir, 'r-')) })).rejects.toMatchObject({ code: 'GIT_ERROR' });
    const source = await fetchSource({ url: './platform', ref: 'main', workDir: dir, baseDir: dir });
    await expect(readTreeFiles(source.gitdir, source.commit, 'clusters/nope')).rejects.toThrow('manifests path clusters/nope does not exist');
  });

  it('leaves out what a base commit reaches; plain git verifies it against a repository that has the base', async () => {
    const source = await fetchSource({ url: './platform', ref: 'next', workDir: dir, baseDir: dir });
    const full = join(dir, 'full.bundle');
    const delta = join(dir, 'delta.bundle');
    const whole = await writeSnapshotBundle({ source, out: full });
    const written = await writeSnapshotBundle({ source, out: delta, haves: [second] });
    expect(written.prerequisites).toEqual([second]);
    expect(written.objects).toBe(5); // the new commit, 3 changed trees (root, clusters, clusters/store), c.yaml
    expect(written.size).toBeLessThan(whole.size / 2);
    const withBase = join(dir, 'with-base');
    await run('git', ['clone', '-q', '-b', 'main', repo, withBase]);
    expect((await exec('git', ['-C', withBase, 'bundle', 'verify', delta])).code).toBe(0);
    await run('git', ['-C', withBase, 'fetch', '-q', delta, 'refs/heads/next:refs/heads/next']);
    expect((await run('git', ['-C', withBase, 'rev-parse', 'next'])).trim()).toBe(third);
    const empty = join(dir, 'empty');
    await run('git', ['init', '-q', empty]);
    const refused = await exec('git', ['-C', empty, 'bundle', 'verify', delta]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(second);
  });
});
