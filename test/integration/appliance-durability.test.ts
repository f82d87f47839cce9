/**
 * Durability (ADR 009). This machine's kernel has no device-mapper (no dm-log-writes to replay block writes up to
 * a power cut), so the order of the syscalls is checked instead, on a real `airlock appliance serve` process under
 * `strace -f -y` doing a real import: every blob, index.json, atomic file, Git pack and Git branch renamed (or
 * linked) into the data directory was fsynced before and its directory fsynced after; with a kill just before the
 * `record` transaction, every file of the import is already durable. And a base blob of the right size but torn
 * bytes (an old data directory after a power cut) is not taken as held: it is re-hashed, refused and restored.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, readFile, readdir, stat } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBase } from '../../bundler/base.js';
import { BINARY } from '../helpers/cli.js';
import { freePort } from '../helpers/registry.js';
import { type Site, api, importPath, makeSite, start } from '../helpers/appliance-fixture.js';

interface Move {
  call: string;
  from: string;
  to: string;
  /** line index where it started and where it returned */
  at: number;
  end: number;
}

interface Trace {
  /** path → line indexes where an fsync or fdatasync of it returned */
  synced: Map<string, number[]>;
  moves: Move[];
}

/** Reads `strace -f -y` output: completed fsyncs (by path) and successful renames and links. */
function parseTrace(text: string): Trace {
  const synced = new Map<string, number[]>();
  const moves: Move[] = [];
  const pending = new Map<string, { call: string; args: string; at: number }>();
  const lines = text.split('\n');
  const done = (call: string, args: string, at: number, end: number) => {
    if (call === 'fsync' || call === 'fdatasync') {
      const path = /^\d+<(.*)>$/.exec(args.trim())?.[1];
      if (path) synced.set(path, [...(synced.get(path) ?? []), end]);
      return;
    }
    const dirs = [...args.matchAll(/(?:AT_FDCWD|\d+)<([^>]*)>/g)].map((m) => m[1] ?? '');
    const names = [...args.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? '');
    if (names.length < 2) return;
    const resolve = (name: string, dir: string | undefined) => (name.startsWith('/') ? normalize(name) : dir ? normalize(join(dir, name)) : normalize(name));
    const at2 = call === 'renameat' || call === 'renameat2' || call === 'linkat';
    moves.push({ call, from: resolve(names[0] ?? '', at2 ? dirs[0] : undefined), to: resolve(names[1] ?? '', at2 ? dirs[1] : undefined), at, end });
  };
  lines.forEach((line, i) => {
    const resumed = /^(\d+)\s+<\.\.\. (\w+) resumed>(.*)\) += (-?\d+)/.exec(line);
    if (resumed) {
      const p = pending.get(resumed[1] ?? '');
      pending.delete(resumed[1] ?? '');
      if (p && resumed[4] === '0') done(p.call, p.args + (resumed[3] ?? ''), p.at, i);
      return;
    }
    const started = /^(\d+)\s+(\w+)\((.*?)(?: <unfinished \.\.\.>$|\) += (-?\d+))/.exec(line);
    if (!started) return;
    const [, pid = '', call = '', args = '', result] = started;
    if (result === undefined) pending.set(pid, { call, args, at: i });
    else if (result === '0') done(call, args, i, i);
  });
  return { synced, moves };
}

/** Whether `path` (absolute, or relative to a git process's directory) was fsynced in the line range. */
function syncedBetween(trace: Trace, path: string, from: number, to: number): boolean {
  for (const [p, at] of trace.synced) {
    const same = path.startsWith('/') ? p === path : p.endsWith(`/${path}`);
    if (same && at.some((i) => i > from && i < to)) return true;
  }
  return false;
}

/** The rule: the moved file fsynced before, its directory fsynced after (before the trace's end). */
function checkMove(trace: Trace, m: Move, end: number): string[] {
  const problems: string[] = [];
  if (!syncedBetween(trace, m.from, -1, m.at)) problems.push(`${m.call} ${m.from} -> ${m.to}: the file was not fsynced before`);
  if (!syncedBetween(trace, dirname(m.to), m.end, end)) problems.push(`${m.call} -> ${m.to}: its directory was not fsynced after`);
  return problems;
}

interface Traced {
  url: string;
  child: ChildProcess;
  exited: Promise<void>;
  output: () => string;
  stop(): Promise<void>;
}

/** `airlock appliance serve` under strace (fsync, fdatasync, rename*, link*, openat), one trace file. */
async function tracedAppliance(site: Site, dataDir: string, traceFile: string, env: Record<string, string> = {}): Promise<Traced> {
  const port = await freePort();
  const child = spawn(
    'strace',
    ['-f', '-y', '-qq', '-o', traceFile, '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2,link,linkat,openat', process.execPath, BINARY, 'appliance', 'serve', '--data', dataDir, '--trust', site.trustPath, '--listen', `127.0.0.1:${port}`, '--media', site.media],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  while (!out.includes('appliance listening')) {
    if (child.exitCode !== null) throw new Error(`appliance exited at start: ${out}`);
    if (Date.now() > deadline) throw new Error(`appliance did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    exited,
    output: () => out,
    async stop() {
      // SIGTERM to the traced node process (strace itself would only detach)
      const kids = (await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean);
      for (const pid of kids) process.kill(Number(pid), 'SIGTERM');
      await exited;
    },
  };
}

let site: Site;

beforeAll(async () => {
  site = await makeSite({ layerSize: 300_000 });
  await site.bundle({ sequence: 1, name: 'b1' });
});

describe('durable writes, shown with a syscall trace of a real import', { timeout: 300_000 }, () => {
  it('fsyncs every file before it is renamed into the data directory and its directory after', async () => {
    const dataDir = join(site.dir, 'traced');
    const traceFile = join(site.dir, 'trace-1.txt');
    const app = await tracedAppliance(site, dataDir, traceFile);
    const token = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
    expect((await importPath(app.url, token, 'b1.airlock')).state).toBe('applied');
    await app.stop();
    const text = await readFile(traceFile, 'utf8');
    const trace = parseTrace(text);
    const end = text.split('\n').length;
    const inData = trace.moves.filter((m) => m.to.startsWith(`${dataDir}/`) || (!m.to.startsWith('/') && !m.to.includes('tmp_')));

    // every blob in the store arrived by a checked rename
    const blobDir = join(dataDir, 'store', 'blobs', 'sha256');
    const blobMoves = inData.filter((m) => dirname(m.to) === blobDir);
    const held = (await readdir(blobDir)).sort();
    expect(held.length).toBeGreaterThanOrEqual(8);
    expect([...new Set(blobMoves.map((m) => m.to.slice(blobDir.length + 1)))].sort()).toEqual(held);
    // index.json, oci-layout and the admin token (writeFileAtomic), the site key (linked, never overwritten)
    const named = (p: string) => inData.filter((m) => m.to === join(dataDir, p));
    for (const p of ['store/index.json', 'store/oci-layout', 'admin-token', 'appliance.key', 'appliance.pub']) expect(named(p).length, p).toBeGreaterThan(0);
    // Git: the pack (git links it in), the published branch
    const pack = inData.filter((m) => /objects\/pack\/pack-[0-9a-f]+\.pack$/.test(m.to));
    const branch = inData.filter((m) => m.to.endsWith('refs/heads/main'));
    expect(pack.length).toBeGreaterThan(0);
    expect(branch.length).toBeGreaterThan(0);

    const checked = [...blobMoves, ...['store/index.json', 'store/oci-layout', 'admin-token', 'appliance.key', 'appliance.pub'].flatMap(named), ...pack, ...branch];
    expect(checked.flatMap((m) => checkMove(trace, m, end))).toEqual([]);
    // The rule is not vacuous: a rename into a directory nobody fsynced fails it.
    expect(checkMove(trace, { call: 'rename', from: join(dataDir, 'x.tmp'), to: join(dataDir, 'nowhere', 'x'), at: end - 1, end: end - 1 }, end)).toHaveLength(2);
  });

  it('has every file of an import durable before the record transaction', async () => {
    const dataDir = join(site.dir, 'killed');
    const app = await start(site, { dataDir });
    expect((await importPath(app.url, app.token, 'b1.airlock')).state).toBe('applied');
    await app.close();
    await site.commit({ 'clusters/store/two.yaml': 'kind: ConfigMap\n# 2\n' }, 'two');
    await site.bundle({ sequence: 2, name: 'b2', images: ['team/app:1.0', 'team/worker:2.0'] });
    const traceFile = join(site.dir, 'trace-2.txt');
    const traced = await tracedAppliance(site, dataDir, traceFile, { AIRLOCK_FAILPOINT: 'after-git-mirror' });
    const token = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
    await api(traced.url, token, '/api/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: 'b2.airlock' }) });
    await traced.exited; // killed (SIGKILL) at the failpoint, before `record`
    const text = await readFile(traceFile, 'utf8');
    const trace = parseTrace(text);
    const end = text.split('\n').length;
    const moves = trace.moves.filter((m) => dirname(m.to) === join(dataDir, 'store', 'blobs', 'sha256') || /objects\/pack\/pack-[0-9a-f]+\.pack$/.test(m.to));
    expect(moves.filter((m) => m.to.includes('/blobs/')).length).toBeGreaterThan(0); // worker:2.0's layer is new
    expect(moves.filter((m) => m.to.includes('/pack/')).length).toBeGreaterThan(0); // the new commit
    expect(moves.flatMap((m) => checkMove(trace, m, end))).toEqual([]);
    // what the database vouches for is on disk and whole
    const db = new Database(join(dataDir, 'state.db'), { readonly: true });
    const rows = db.prepare('SELECT digest, size FROM verified_blobs').all() as { digest: string; size: number }[];
    db.close();
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      const bytes = await readFile(join(dataDir, 'store', 'blobs', 'sha256', r.digest.slice(7)));
      expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(r.digest);
    }
  });
});

describe('a base blob counts as held only once known whole', { timeout: 300_000 }, () => {
  it('re-hashes a blob of an old data directory before a delta relies on it: a torn one is refused, then restored', async () => {
    const dataDir = join(site.dir, 'torn');
    let app = await start(site, { dataDir });
    expect((await importPath(app.url, app.token, 'b1.airlock')).state).toBe('applied');
    await app.close();
    // An old data directory: no blob is known whole, and one layer of the right size has torn bytes.
    const layoutIndex = JSON.parse(await readFile(join(site.layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const worker = layoutIndex.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'team/worker:1.0');
    const manifest = JSON.parse(await readFile(join(site.layout, 'blobs', 'sha256', (worker?.digest ?? '').slice(7)), 'utf8')) as { layers: { digest: string; size: number }[] };
    const layer = manifest.layers[0] ?? { digest: '', size: 0 };
    const blobFile = join(dataDir, 'store', 'blobs', 'sha256', layer.digest.slice(7));
    const handle = await open(blobFile, 'r+');
    await handle.write(Buffer.alloc(4096), 0, 4096, 8192); // a block that never reached the disk
    await handle.close();
    expect((await stat(blobFile)).size).toBe(layer.size);
    const db = new Database(join(dataDir, 'state.db'));
    db.prepare('DELETE FROM verified_blobs').run();
    db.close();

    app = await start(site, { dataDir });
    try {
      await site.commit({ 'clusters/store/delta.yaml': 'kind: ConfigMap\n# delta\n' }, 'delta');
      const base = await loadBase({ path: join(site.media, 'b1.airlock'), channel: 'stable', applianceKeys: [] });
      await site.bundle({ sequence: 2, name: 'delta', base });
      const failed = await importPath(app.url, app.token, 'delta.airlock');
      expect(failed.state).toBe('failed');
      expect(failed.error?.code).toBe('BASE_MISSING');
      expect(failed.error?.message).toContain(layer.digest);
      await expect(stat(blobFile)).rejects.toThrow(); // the torn file is gone, not served
      // A full bundle carries the layer again: applied, and /v2 serves the right bytes.
      await site.bundle({ sequence: 3, name: 'b3' });
      expect((await importPath(app.url, app.token, 'b3.airlock')).state).toBe('applied');
      const res = await fetch(`${app.url}/v2/team/worker/blobs/${layer.digest}`);
      expect(res.status).toBe(200);
      expect(`sha256:${createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')}`).toBe(layer.digest);
    } finally {
      await app.close();
    }
  });
});
