/**
 * The appliance's own Ed25519 key, made on first start: DATA/appliance.key (0600) signs site receipts;
 * DATA/appliance.pub is what the connected side is given to verify them.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type SecretKey, generateKey, readSecretKey, writeKeyFiles } from '../keys/key-file.js';
import type { Logger } from './context.js';

export async function loadOrCreateSiteKey(dataDir: string, log: Logger): Promise<SecretKey> {
  const prefix = join(dataDir, 'appliance');
  const exists = await stat(`${prefix}.key`).then(() => true, () => false);
  if (exists) return readSecretKey(`${prefix}.key`);
  const key = generateKey('appliance');
  const { publicPath } = await writeKeyFiles(prefix, key);
  log.info('first start: made the appliance key that signs site receipts', { keyid: key.keyid, publicKey: publicPath });
  return key;
}
