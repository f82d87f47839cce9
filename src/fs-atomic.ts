import { randomBytes } from 'node:crypto';
import { link, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes a file under a temporary name and renames it into place: readers see the old file or the whole new one. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, { mode = 0o644, overwrite = true }: { mode?: number; overwrite?: boolean } = {}): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(tmp, data, { mode, flag: 'wx' });
    if (!overwrite) {
      await link(tmp, path); // fails with EEXIST instead of replacing
      await rm(tmp, { force: true });
      return;
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
