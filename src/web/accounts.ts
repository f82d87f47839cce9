/**
 * Web UI accounts (scrypt password hashes), sessions (stored as sha256 of the cookie value) and setup links, in a
 * SQLite database: the appliance's state database, or the fleet page's own (ACCOUNT_TABLES).
 */
import type Database from 'better-sqlite3';
import { AirlockError } from '../errors.js';
import type { Role } from './session.js';

export interface User {
  name: string;
  role: Role;
  createdAt: string;
}

/** The tables an account store needs, for a database of its own (the appliance creates them in its migrations). */
export const ACCOUNT_TABLES = `
  CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL, created_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS sessions (hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS setup_tokens (hash TEXT PRIMARY KEY, expires_at TEXT NOT NULL);
`;

export class AccountStore {
  constructor(private readonly db: Database.Database) {}

  userCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
  }

  adminCount(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'").get() as { n: number }).n;
  }

  users(): User[] {
    return (this.db.prepare('SELECT name, role, created_at FROM users ORDER BY name').all() as { name: string; role: Role; created_at: string }[]).map((u) => ({ name: u.name, role: u.role, createdAt: u.created_at }));
  }

  user(name: string): (User & { password: string }) | undefined {
    const row = this.db.prepare('SELECT name, role, password, created_at FROM users WHERE name = ?').get(name) as { name: string; role: Role; password: string; created_at: string } | undefined;
    return row ? { name: row.name, role: row.role, password: row.password, createdAt: row.created_at } : undefined;
  }

  /** Creates or updates an account; the last admin account cannot lose the admin role. */
  putUser(name: string, role: Role, passwordHash: string, now: Date): void {
    this.db.transaction(() => {
      if (role !== 'admin') this.keepAnAdmin(name, `${name} is the last admin account: give another account the admin role before changing this one to ${role}`);
      this.db.prepare('INSERT INTO users (name, role, password, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET role = excluded.role, password = excluded.password').run(name, role, passwordHash, now.toISOString());
    })();
  }

  /** Deletes an account and its sessions; the last admin account cannot be deleted. */
  deleteUser(name: string): void {
    this.db.transaction(() => {
      this.keepAnAdmin(name, `${name} is the last admin account: give another account the admin role before deleting this one`);
      this.db.prepare('DELETE FROM sessions WHERE user = ?').run(name);
      this.db.prepare('DELETE FROM users WHERE name = ?').run(name);
    })();
  }

  /** Refuses a change that would leave no account with the admin role (nobody could manage accounts). */
  private keepAnAdmin(name: string, message: string): void {
    if (this.user(name)?.role === 'admin' && this.adminCount() <= 1) throw new AirlockError('USAGE', message);
  }

  createSession(hash: string, user: string, csrf: string, now: Date, expires: Date): void {
    this.db.prepare('INSERT INTO sessions (hash, user, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)').run(hash, user, csrf, now.toISOString(), expires.toISOString());
  }

  /** The live session with this hash and its user, or undefined (expired ones are removed). */
  session(hash: string, now: Date): { user: User; csrf: string } | undefined {
    const row = this.db.prepare('SELECT s.csrf, s.expires_at, u.name, u.role, u.created_at FROM sessions s JOIN users u ON u.name = s.user WHERE s.hash = ?').get(hash) as
      | { csrf: string; expires_at: string; name: string; role: Role; created_at: string }
      | undefined;
    if (!row) return undefined;
    if (Date.parse(row.expires_at) <= now.getTime()) {
      this.deleteSession(hash);
      return undefined;
    }
    return { user: { name: row.name, role: row.role, createdAt: row.created_at }, csrf: row.csrf };
  }

  deleteSession(hash: string): void {
    this.db.prepare('DELETE FROM sessions WHERE hash = ?').run(hash);
  }

  addSetupToken(hash: string, expires: Date): void {
    this.db.prepare('INSERT INTO setup_tokens (hash, expires_at) VALUES (?, ?)').run(hash, expires.toISOString());
  }

  /** Uses up a setup token: true once, when it exists and has not expired. */
  takeSetupToken(hash: string, now: Date): boolean {
    const row = this.db.prepare('SELECT expires_at FROM setup_tokens WHERE hash = ?').get(hash) as { expires_at: string } | undefined;
    this.db.prepare('DELETE FROM setup_tokens WHERE hash = ?').run(hash);
    return row !== undefined && Date.parse(row.expires_at) > now.getTime();
  }
}
