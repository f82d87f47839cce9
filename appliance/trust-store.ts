/**
 * The trust root in force, across restarts: the one given with --trust, advanced through every root a bundle
 * carried and the appliance accepted under the rotation rule (persisted as DATA/trust/root-vN.json, one file per
 * version, written atomically). At start the chain is walked again from the given root, so a file dropped into
 * the directory counts only if the rotation rule vouches for it.
 */
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AirlockError } from '../src/errors.js';
import { writeFileAtomic } from '../src/fs-atomic.js';
import { type CarriedRoot, walkRootChain } from '../keys/rotation.js';
import type { TrustRoot } from '../keys/trust-root.js';
import type { ApplianceContext } from './context.js';

const FILE_RE = /^root-v(\d+)\.json$/;

export function trustDirOf(dataDir: string): string {
  return join(dataDir, 'trust');
}

/**
 * The trust root in force at start: `given` (from --trust, its signatures checked and its expiry not: an expired
 * root still says which keys were trusted, and the appliance keeps serving), advanced through the chain of
 * accepted rotations under DATA/trust. Throws TRUST_ROOT_INVALID when a link of the chain is not valid.
 */
export async function trustInForce(dataDir: string, given: TrustRoot, now: Date): Promise<TrustRoot> {
  const dir = trustDirOf(dataDir);
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw new AirlockError('IO_ERROR', `cannot read ${dir}: ${err.code ?? err.message}`);
  });
  const accepted = await Promise.all(names.filter((n) => FILE_RE.test(n)).map(async (n) => ({ text: await readFile(join(dir, n), 'utf8'), label: join(dir, n) })));
  const chain = walkRootChain(given, accepted, now);
  if (!chain.ok || !chain.value) throw new AirlockError(chain.error?.code ?? 'TRUST_ROOT_INVALID', `${chain.error?.message ?? 'broken chain of trust roots'} (remove the file if it was not put there by a rotation)`);
  return chain.value;
}

/** Makes a carried root that passed the rotation rule the one in force: persisted first, then used. Idempotent. */
export async function adoptTrustRoot(ctx: ApplianceContext, next: CarriedRoot, importId: string): Promise<void> {
  if (next.root.version <= ctx.trust.version) return;
  if (!ctx.trustDir) throw new AirlockError('IO_ERROR', 'this appliance has no directory to keep an accepted trust root in');
  await mkdir(ctx.trustDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(ctx.trustDir, `root-v${next.root.version}.json`), `${next.text}\n`);
  const from = ctx.trust.version;
  ctx.trust = next.root;
  ctx.state.audit('system', 'trust.rotated', { id: importId, from, to: next.root.version, expires: next.root.expires }, ctx.now());
  ctx.log.warn('trust root rotated: bundles are now checked under the new trust root', { id: importId, from, to: next.root.version, expires: next.root.expires });
}
