/**
 * The fleet's history of receipts read from the depot. The depot keeps only each site's latest receipt, but a
 * wave's soak is a span of time: every receipt the fleet reads is kept here (`HISTORY/SITE/CREATED.json`, the
 * signed text as the site wrote it), so later gates see the run of reports behind the latest one
 * (docs/adr/020-waves.md). The files are signed receipts and are verified again when read: the folder needs no
 * trust of its own. Receipts older than `keepMs` before a site's newest are removed when the site is read.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { verifyReceipt } from '../../keys/receipt.js';
import type { FleetSite } from './load.js';
import type { Evidence } from './receipts.js';

function fileName(created: string): string {
  return `${created.replace(/[^0-9A-Za-z.-]/g, '_')}.json`;
}

/** Keeps one receipt (once: a receipt already kept is not written again). */
export async function keepReceipt(history: string, site: string, text: string, created: string): Promise<void> {
  const dir = join(history, site);
  // Synchronous: a few small writes, where a trip through the thread pool costs several times their CPU, and
  // `fleet status` keeps 10,000 of them on a run.
  mkdirSync(dir, { recursive: true });
  // Not fsynced: a receipt lost in a power cut only makes a later soak look shorter, never longer.
  try {
    writeFileSync(join(dir, fileName(created)), text, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** The site's kept receipts that verify against its key, newest first; those older than `keepMs` are removed. */
export async function readHistory(history: string, site: FleetSite, keepMs: number): Promise<Evidence[]> {
  const dir = join(history, site.name);
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: Evidence[] = [];
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const path = join(dir, name);
    try {
      const { receipt, signer } = verifyReceipt(await readFile(path, 'utf8'), [site.key], path);
      out.push({ created: receipt.created, signer, channels: receipt.channels, placements: receipt.placements ?? [], where: path });
    } catch {
      // Not the site's (or altered): not evidence.
    }
  }
  out.sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
  const newest = out[0] ? Date.parse(out[0].created) : 0;
  const keep = out.filter((e) => newest - Date.parse(e.created) <= keepMs);
  await Promise.all(out.filter((e) => !keep.includes(e)).map((e) => rm(e.where, { force: true })));
  return keep;
}
