/** The spec's `trustRoot: FILE`: the next trust root a bundle carries, checked before anything is built. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AirlockError } from '../src/errors.js';
import { verifyTrustRoot } from '../keys/trust-root.js';
import type { BundleSpec } from './spec.js';

/** Reads the file and checks it is a trust root signed by a threshold of its own root keys and not expired. */
export async function carriedTrustRoot(spec: BundleSpec, now: Date): Promise<string | undefined> {
  if (!spec.trustRoot) return undefined;
  const path = resolve(spec.baseDir, spec.trustRoot.path);
  const where = `${spec.file}:${spec.trustRoot.line}: trustRoot ${spec.trustRoot.path}`;
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new AirlockError('SPEC_INVALID', `${where}: cannot read it (${err.code ?? err.message})`);
  });
  const verdict = verifyTrustRoot(text, now, where);
  if (!verdict.ok) throw new AirlockError(verdict.error?.code ?? 'TRUST_ROOT_INVALID', `${verdict.error?.message ?? where}; the appliance would refuse it`);
  return text.trim();
}
