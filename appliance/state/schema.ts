/** The appliance's state database schema, applied in order; `user_version` records how far a database has got. */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE imports (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,            -- running | applied | failed
    stage TEXT NOT NULL,            -- receive | load-images | git-mirror | record | done
    source TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,
    total_bytes INTEGER,
    name TEXT, channel TEXT, sequence INTEGER, root_digest TEXT, base TEXT,
    signers TEXT NOT NULL DEFAULT '[]',
    stages TEXT NOT NULL DEFAULT '[]',
    error_code TEXT, error_message TEXT,
    idempotent INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT
  );
  CREATE TABLE bundles (
    root_digest TEXT PRIMARY KEY,
    name TEXT NOT NULL, channel TEXT NOT NULL, sequence INTEGER NOT NULL,
    created TEXT NOT NULL, expires TEXT,
    summary TEXT NOT NULL,
    import_id TEXT NOT NULL,
    first_applied_at TEXT NOT NULL
  );
  CREATE TABLE channels (
    channel TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL,
    root_digest TEXT NOT NULL,
    applied_at TEXT NOT NULL
  );
  CREATE TABLE blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, media_type TEXT NOT NULL);
  CREATE TABLE tags (
    repository TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    channel TEXT NOT NULL,
    PRIMARY KEY (repository, tag)
  );
  CREATE TABLE repository_blobs (repository TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (repository, digest));
  CREATE TABLE tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, name TEXT NOT NULL, created_at TEXT NOT NULL);
  CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
  `,
  `
  CREATE TABLE kube_inventory (
    channel TEXT NOT NULL, key TEXT NOT NULL,
    api_version TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT, name TEXT NOT NULL,
    PRIMARY KEY (channel, key)
  );
  `,
  `
  ALTER TABLE channels ADD COLUMN max_sequence INTEGER;
  UPDATE channels SET max_sequence = sequence;
  `,
  `
  CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL, created_at TEXT NOT NULL);
  CREATE TABLE sessions (hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
  CREATE TABLE setup_tokens (hash TEXT PRIMARY KEY, expires_at TEXT NOT NULL);
  ALTER TABLE imports ADD COLUMN previous_root TEXT;
  `,
  `
  -- blobs known whole on disk: written (fsynced) by this version, or re-hashed. Rows are added only after the file
  -- is durable; an old data directory starts with none, so its blobs are re-hashed or re-written before trusted.
  CREATE TABLE verified_blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, verified_at TEXT NOT NULL);
  -- releases dropped by retention (--keep): kept for the history, no longer held.
  ALTER TABLE bundles ADD COLUMN dropped_at TEXT;
  `,
];
