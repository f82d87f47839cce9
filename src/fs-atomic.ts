/**
 * Durable file replacement. The order is what makes a power cut safe: the new bytes are written to a temporary
 * file and fsynced, the file is renamed (or linked) into place, and the directory is fsynced so that the new name
 * itself is on disk. After a crash a reader finds the old file or the whole new one, never a torn one, and once
 * these functions return the new file survives a power cut (ADR 009).
 */
import { randomBytes } from 'node:crypto';
import { link, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Flushes a file's data and metadata to the disk (fsync). */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a directory, so that names created, renamed or removed in it survive a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  // A directory opens read-only on Linux and macOS; fsync on it commits its entries.
  await fsyncFile(dir);
}

/**
 * Renames `from` (already fsynced) to `to` and fsyncs the directory of `to`. (A lost removal of the old name only
 * leaves a stray temporary file, which start-up clears.)
 */
export async function durableRename(from: string, to: string): Promise<void> {
  await rename(from, to);
  await fsyncDir(dirname(to));
}

/**
 * Writes a file under a temporary name, fsyncs it and renames it into place, then fsyncs the directory: readers
 * see the old file or the whole new one, and after it returns the new one survives a power cut.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, { mode = 0o644, overwrite = true }: { mode?: number; overwrite?: boolean } = {}): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(4).toString('hex')}`);
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (!overwrite) {
      await link(tmp, path); // fails with EEXIST instead of replacing
      await rm(tmp, { force: true });
      await fsyncDir(dirname(path));
      return;
    }
    await rename(tmp, path);
    await fsyncDir(dirname(path));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
