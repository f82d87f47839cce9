/** The size and free space of the file system holding a directory (statfs), as the Overview shows them. Read only. */
import { statfs } from 'node:fs/promises';

export interface DiskUsage {
  /** Size of the file system. */
  totalBytes: number;
  /** Free to this process (blocks available to unprivileged users). */
  freeBytes: number;
  /** Used by anything on the file system (total minus free blocks). */
  usedBytes: number;
}

export async function diskUsage(dir: string): Promise<DiskUsage> {
  const s = await statfs(dir);
  const totalBytes = s.blocks * s.bsize;
  return { totalBytes, freeBytes: s.bavail * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize };
}
