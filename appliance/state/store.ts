/**
 * The appliance's state: imports and their stages, the bundle in force per channel, what the embedded registry
 * shows (tags and visible blobs), API tokens and the audit log. SQLite in WAL mode with full fsync: a crash
 * leaves every transaction either wholly applied or not at all. Publishing a bundle is one transaction.
 */
import Database from 'better-sqlite3';
import type { InventoryEntry } from '../reconcile/sync.js';
import type { Descriptor } from '../../src/descriptor.js';
import type { Statement } from '../../src/bundle/format.js';
import type { BundleSummary } from '../../src/bundle/summary.js';
import { AccountStore } from './accounts.js';
import { MIGRATIONS } from './schema.js';

export type ImportState = 'running' | 'applied' | 'failed';
export type Role = 'viewer' | 'operator' | 'admin';

export interface StageTiming {
  stage: string;
  startedAt: string;
  ms?: number;
}

export interface ImportRecord {
  id: string;
  state: ImportState;
  stage: string;
  source: string;
  progress: { bytes: number; totalBytes: number | null };
  name: string | null;
  channel: string | null;
  sequence: number | null;
  rootDigest: string | null;
  base: string | null;
  /** The bundle in force on the channel when this one was verified. */
  previousRoot: string | null;
  signers: string[];
  stages: StageTiming[];
  error: { code: string; message: string } | null;
  idempotent: boolean;
  startedAt: string;
  finishedAt: string | null;
}

export interface TagRecord {
  repository: string;
  tag: string;
  desc: Descriptor;
}

export interface PublishInput {
  importId: string;
  statement: Statement;
  summary: BundleSummary;
  blobs: Descriptor[];
  tags: TagRecord[];
  repositoryBlobs: { repository: string; digest: string }[];
  now: Date;
}

interface ImportRow {
  id: string; state: ImportState; stage: string; source: string; bytes: number; total_bytes: number | null;
  name: string | null; channel: string | null; sequence: number | null; root_digest: string | null; base: string | null;
  signers: string; stages: string; error_code: string | null; error_message: string | null; idempotent: number;
  started_at: string; finished_at: string | null; previous_root?: string | null;
}

export class StateStore {
  private readonly db: Database.Database;
  /** Web UI accounts and sessions. */
  readonly accounts: AccountStore;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] ?? '');
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
    this.accounts = new AccountStore(this.db);
  }

  close(): void {
    this.db.close();
  }

  // --- imports ---------------------------------------------------------------------------------------------

  createImport(id: string, source: string, totalBytes: number | null, now: Date): void {
    this.db.prepare('INSERT INTO imports (id, state, stage, source, total_bytes, started_at, stages) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(id, 'running', 'receive', source, totalBytes, now.toISOString(), JSON.stringify([{ stage: 'receive', startedAt: now.toISOString() }]));
  }

  setProgress(id: string, bytes: number): void {
    this.db.prepare('UPDATE imports SET bytes = ? WHERE id = ?').run(bytes, id);
  }

  setStage(id: string, stage: string, now: Date): void {
    const row = this.importRow(id);
    if (!row) return;
    const stages = JSON.parse(row.stages) as StageTiming[];
    const last = stages[stages.length - 1];
    if (last && last.ms === undefined) last.ms = now.getTime() - Date.parse(last.startedAt);
    if (stage !== 'done') stages.push({ stage, startedAt: now.toISOString() });
    this.db.prepare('UPDATE imports SET stage = ?, stages = ? WHERE id = ?').run(stage, JSON.stringify(stages), id);
  }

  /** What the verified statement says, and which bundle was in force on its channel then (for the report). */
  setStatement(id: string, statement: Statement, signers: string[], previousRoot?: string): void {
    this.db.prepare('UPDATE imports SET name = ?, channel = ?, sequence = ?, root_digest = ?, base = ?, signers = ?, previous_root = ? WHERE id = ?')
      .run(statement.name, statement.channel, statement.sequence, statement.root.digest, statement.base ?? null, JSON.stringify(signers), previousRoot ?? null, id);
  }

  failImport(id: string, code: string, message: string, now: Date): void {
    this.db.prepare("UPDATE imports SET state = 'failed', error_code = ?, error_message = ?, finished_at = ? WHERE id = ? AND state = 'running'")
      .run(code, message, now.toISOString(), id);
  }

  /** Marks an import applied without publishing anything new (the same bundle as the one in force). */
  finishIdempotent(id: string, now: Date): void {
    this.setStage(id, 'done', now);
    this.db.prepare("UPDATE imports SET state = 'applied', idempotent = 1, finished_at = ? WHERE id = ?").run(now.toISOString(), id);
  }

  /**
   * Imports left running by a crash or kill. One that was already published (its bundle is in force) is
   * completed — the caller then moves Git refs and tags; any other is marked failed, the bundle in force untouched.
   */
  settleInterrupted(now: Date): { completed: string[]; failed: string[] } {
    const rows = this.db.prepare("SELECT i.id, c.root_digest AS in_force FROM imports i LEFT JOIN channels c ON c.channel = i.channel AND c.root_digest = i.root_digest WHERE i.state = 'running'").all() as {
      id: string; in_force: string | null;
    }[];
    const completed: string[] = [];
    const failed: string[] = [];
    for (const row of rows) {
      if (row.in_force) {
        this.markApplied(row.id, now);
        completed.push(row.id);
      } else {
        this.failImport(row.id, 'INTERRUPTED', 'the appliance stopped during this import; the previous bundle stayed in force (import it again)', now);
        failed.push(row.id);
      }
    }
    return { completed, failed };
  }

  getImport(id: string): ImportRecord | undefined {
    const row = this.importRow(id);
    return row ? toRecord(row) : undefined;
  }

  runningImport(): ImportRecord | undefined {
    const row = this.db.prepare("SELECT * FROM imports WHERE state = 'running' LIMIT 1").get() as ImportRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  listImports(limit = 100): ImportRecord[] {
    return (this.db.prepare('SELECT * FROM imports ORDER BY started_at DESC, rowid DESC LIMIT ?').all(limit) as ImportRow[]).map(toRecord);
  }

  private importRow(id: string): ImportRow | undefined {
    return this.db.prepare('SELECT * FROM imports WHERE id = ?').get(id) as ImportRow | undefined;
  }

  // --- bundles and channels -------------------------------------------------------------------------------

  /**
   * What rollback protection compares with: the highest sequence ever accepted on the channel (a re-applied
   * earlier bundle does not lower it) and the root in force.
   */
  lastAccepted(channel: string): { sequence: number; rootDigest: string } | undefined {
    const row = this.db.prepare('SELECT sequence, max_sequence, root_digest FROM channels WHERE channel = ?').get(channel) as { sequence: number; max_sequence: number | null; root_digest: string } | undefined;
    return row ? { sequence: Math.max(row.sequence, row.max_sequence ?? 0), rootDigest: row.root_digest } : undefined;
  }

  /** A bundle applied here before (held, or dropped by retention: see droppedBundle), with what its statement said. */
  heldBundleRecord(rootDigest: string): { name: string; channel: string; sequence: number; created: string; expires: string | null; summary: BundleSummary } | undefined {
    const row = this.db.prepare('SELECT name, channel, sequence, created, expires, summary FROM bundles WHERE root_digest = ?').get(rootDigest) as
      | { name: string; channel: string; sequence: number; created: string; expires: string | null; summary: string }
      | undefined;
    return row ? { ...row, summary: JSON.parse(row.summary) as BundleSummary } : undefined;
  }

  /** Everything a bundle makes visible, in one transaction, and the import marked applied. */
  publish(input: PublishInput): void {
    const { importId, statement, summary, now } = input;
    const at = now.toISOString();
    this.db.transaction(() => {
      this.db.prepare('INSERT OR IGNORE INTO bundles (root_digest, name, channel, sequence, created, expires, summary, import_id, first_applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(statement.root.digest, statement.name, statement.channel, statement.sequence, statement.created, statement.expires ?? null, JSON.stringify(summary), importId, at);
      this.db.prepare('INSERT INTO channels (channel, sequence, max_sequence, root_digest, applied_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(channel) DO UPDATE SET sequence = excluded.sequence, max_sequence = MAX(COALESCE(channels.max_sequence, channels.sequence), excluded.max_sequence), root_digest = excluded.root_digest, applied_at = excluded.applied_at')
        .run(statement.channel, statement.sequence, statement.sequence, statement.root.digest, at);
      const blob = this.db.prepare('INSERT OR IGNORE INTO blobs (digest, size, media_type) VALUES (?, ?, ?)');
      for (const d of input.blobs) blob.run(d.digest, d.size, d.mediaType);
      this.db.prepare('DELETE FROM tags WHERE channel = ?').run(statement.channel);
      const tag = this.db.prepare('INSERT OR REPLACE INTO tags (repository, tag, digest, media_type, size, channel) VALUES (?, ?, ?, ?, ?, ?)');
      for (const t of input.tags) tag.run(t.repository, t.tag, t.desc.digest, t.desc.mediaType, t.desc.size, statement.channel);
      const rb = this.db.prepare('INSERT OR IGNORE INTO repository_blobs (repository, digest) VALUES (?, ?)');
      for (const r of input.repositoryBlobs) rb.run(r.repository, r.digest);
      this.setStage(importId, 'finish', now);
    })();
  }

  /** The end of an import whose bundle was published and whose Git refs and tags have moved. */
  markApplied(id: string, now: Date): void {
    this.setStage(id, 'done', now);
    this.db.prepare("UPDATE imports SET state = 'applied', finished_at = ? WHERE id = ?").run(now.toISOString(), id);
  }

  status(): { channel: string; sequence: number; rootDigest: string; appliedAt: string; name: string; summary: BundleSummary }[] {
    const rows = this.db.prepare('SELECT c.channel, c.sequence, c.root_digest, c.applied_at, b.name, b.summary FROM channels c JOIN bundles b ON b.root_digest = c.root_digest ORDER BY c.channel').all() as {
      channel: string; sequence: number; root_digest: string; applied_at: string; name: string; summary: string;
    }[];
    return rows.map((r) => ({ channel: r.channel, sequence: r.sequence, rootDigest: r.root_digest, appliedAt: r.applied_at, name: r.name, summary: JSON.parse(r.summary) as BundleSummary }));
  }

  // --- embedded registry ----------------------------------------------------------------------------------

  resolveTag(repository: string, tag: string): Descriptor | undefined {
    const row = this.db.prepare('SELECT digest, media_type, size FROM tags WHERE repository = ? AND tag = ?').get(repository, tag) as { digest: string; media_type: string; size: number } | undefined;
    return row ? { digest: row.digest, mediaType: row.media_type, size: row.size } : undefined;
  }

  /** The channel whose bundle holds `repository:tag` now (tags belong to one channel: docs/adr/014). */
  tagOwner(repository: string, tag: string): string | undefined {
    return (this.db.prepare('SELECT channel FROM tags WHERE repository = ? AND tag = ?').get(repository, tag) as { channel: string } | undefined)?.channel;
  }

  tagsOfChannel(channel: string): TagRecord[] {
    const rows = this.db.prepare('SELECT repository, tag, digest, media_type, size FROM tags WHERE channel = ? ORDER BY repository, tag').all(channel) as {
      repository: string; tag: string; digest: string; media_type: string; size: number;
    }[];
    return rows.map((r) => ({ repository: r.repository, tag: r.tag, desc: { digest: r.digest, mediaType: r.media_type, size: r.size } }));
  }

  /** A published blob, when the repository is allowed to serve it. */
  visibleBlob(repository: string, digest: string): Descriptor | undefined {
    const row = this.db.prepare('SELECT b.digest, b.media_type, b.size FROM blobs b JOIN repository_blobs r ON r.digest = b.digest WHERE r.repository = ? AND b.digest = ?').get(repository, digest) as
      | { digest: string; media_type: string; size: number }
      | undefined;
    return row ? { digest: row.digest, mediaType: row.media_type, size: row.size } : undefined;
  }

  /** Every published blob digest, sorted (the site receipt lists them). */
  publishedBlobs(): string[] {
    return (this.db.prepare('SELECT digest FROM blobs ORDER BY digest').all() as { digest: string }[]).map((r) => r.digest);
  }

  /** Whether a bundle with this root was applied on the channel and is still held (the base a delta may name). */
  heldBundle(channel: string, rootDigest: string): boolean {
    return this.db.prepare('SELECT 1 FROM bundles WHERE channel = ? AND root_digest = ? AND dropped_at IS NULL').get(channel, rootDigest) !== undefined;
  }

  // --- durability and retention (ADR 009) -----------------------------------------------------------------

  /** Records that a blob's file is whole on disk. Called only once the file and its name are fsynced. */
  markVerified(digest: string, size: number, now: Date): void {
    this.db.prepare('INSERT OR REPLACE INTO verified_blobs (digest, size, verified_at) VALUES (?, ?, ?)').run(digest, size, now.toISOString());
  }

  isVerified(digest: string, size: number): boolean {
    return this.db.prepare('SELECT 1 FROM verified_blobs WHERE digest = ? AND size = ?').get(digest, size) !== undefined;
  }

  /** A bundle dropped by retention: when, and what it was. */
  droppedBundle(rootDigest: string): { channel: string; sequence: number; droppedAt: string } | undefined {
    const row = this.db.prepare('SELECT channel, sequence, dropped_at FROM bundles WHERE root_digest = ? AND dropped_at IS NOT NULL').get(rootDigest) as { channel: string; sequence: number; dropped_at: string } | undefined;
    return row ? { channel: row.channel, sequence: row.sequence, droppedAt: row.dropped_at } : undefined;
  }

  /** Every held (not dropped) bundle, newest sequence first per channel, with whether it is the one in force. */
  heldReleases(): { rootDigest: string; channel: string; sequence: number; name: string; inForce: boolean }[] {
    const rows = this.db.prepare('SELECT b.root_digest, b.channel, b.sequence, b.name, c.root_digest AS in_force FROM bundles b LEFT JOIN channels c ON c.channel = b.channel AND c.root_digest = b.root_digest WHERE b.dropped_at IS NULL ORDER BY b.channel, b.sequence DESC, b.first_applied_at DESC').all() as {
      root_digest: string; channel: string; sequence: number; name: string; in_force: string | null;
    }[];
    return rows.map((r) => ({ rootDigest: r.root_digest, channel: r.channel, sequence: r.sequence, name: r.name, inForce: r.in_force !== null }));
  }

  /**
   * Retention, in one transaction: the releases are marked dropped and the blobs no kept release names stop being
   * published (registry, receipt) or known whole. Runs before their files are removed.
   */
  dropReleases(roots: string[], blobs: string[], now: Date): void {
    this.db.transaction(() => {
      const drop = this.db.prepare('UPDATE bundles SET dropped_at = ? WHERE root_digest = ? AND dropped_at IS NULL');
      for (const root of roots) drop.run(now.toISOString(), root);
      const statements = ['DELETE FROM blobs WHERE digest = ?', 'DELETE FROM repository_blobs WHERE digest = ?', 'DELETE FROM verified_blobs WHERE digest = ?'].map((sql) => this.db.prepare(sql));
      for (const digest of blobs) for (const st of statements) st.run(digest);
    })();
  }

  isPublished(digest: string): boolean {
    return this.db.prepare('SELECT 1 FROM blobs WHERE digest = ?').get(digest) !== undefined;
  }

  repositories(): string[] {
    return (this.db.prepare('SELECT DISTINCT repository FROM repository_blobs ORDER BY repository').all() as { repository: string }[]).map((r) => r.repository);
  }

  tagsOf(repository: string): string[] {
    return (this.db.prepare('SELECT tag FROM tags WHERE repository = ? ORDER BY tag').all(repository) as { tag: string }[]).map((r) => r.tag);
  }

  // --- cluster inventory: what each channel applied (what prune may delete) ----------------------------------

  inventory(channel: string): InventoryEntry[] {
    const rows = this.db.prepare('SELECT key, api_version, kind, namespace, name FROM kube_inventory WHERE channel = ? ORDER BY key').all(channel) as {
      key: string; api_version: string; kind: string; namespace: string | null; name: string;
    }[];
    return rows.map((r) => ({ key: r.key, apiVersion: r.api_version, kind: r.kind, ...(r.namespace ? { namespace: r.namespace } : {}), name: r.name }));
  }

  setInventory(channel: string, entries: InventoryEntry[]): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM kube_inventory WHERE channel = ?').run(channel);
      const insert = this.db.prepare('INSERT INTO kube_inventory (channel, key, api_version, kind, namespace, name) VALUES (?, ?, ?, ?, ?, ?)');
      for (const e of entries) insert.run(channel, e.key, e.apiVersion, e.kind, e.namespace ?? null, e.name);
    })();
  }

  // --- tokens and audit ------------------------------------------------------------------------------------

  addToken(id: string, hash: string, role: Role, name: string, now: Date): void {
    this.db.prepare('INSERT INTO tokens (id, hash, role, name, created_at) VALUES (?, ?, ?, ?, ?)').run(id, hash, role, name, now.toISOString());
  }

  tokenCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM tokens').get() as { n: number }).n;
  }

  tokenByHash(hash: string): { id: string; role: Role; name: string } | undefined {
    return this.db.prepare('SELECT id, role, name FROM tokens WHERE hash = ?').get(hash) as { id: string; role: Role; name: string } | undefined;
  }

  audit(actor: string, action: string, detail: unknown, now: Date): void {
    this.db.prepare('INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)').run(now.toISOString(), actor, action, JSON.stringify(detail));
  }

  /** The audit log, newest first. */
  auditLog(limit = 200): { at: string; actor: string; action: string; detail: unknown }[] {
    const rows = this.db.prepare('SELECT at, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?').all(limit) as { at: string; actor: string; action: string; detail: string }[];
    return rows.map((r) => ({ ...r, detail: JSON.parse(r.detail) as unknown }));
  }
}

function toRecord(r: ImportRow): ImportRecord {
  return {
    id: r.id,
    state: r.state,
    stage: r.stage,
    source: r.source,
    progress: { bytes: r.bytes, totalBytes: r.total_bytes },
    name: r.name,
    channel: r.channel,
    sequence: r.sequence,
    rootDigest: r.root_digest,
    base: r.base,
    previousRoot: r.previous_root ?? null,
    signers: JSON.parse(r.signers) as string[],
    stages: JSON.parse(r.stages) as StageTiming[],
    error: r.error_code ? { code: r.error_code, message: r.error_message ?? '' } : null,
    idempotent: r.idempotent === 1,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}
