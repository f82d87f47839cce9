/**
 * Ed25519 key files. `PREFIX.key` holds the secret (mode 0600), `PREFIX.pub` the public half. The key id is the
 * sha256 of the raw 32-byte public key, in hex.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../src/fs-atomic.js';
import nacl from 'tweetnacl';
import { AirlockError } from '../src/errors.js';

export interface PublicKey {
  keytype: 'ed25519';
  keyid: string;
  /** base64 of the 32-byte public key. */
  public: string;
  name?: string;
}

export interface SecretKey extends PublicKey {
  /** base64 of the 64-byte tweetnacl secret key. */
  secret: string;
}

export function keyIdOf(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex');
}

export function generateKey(name?: string, seed?: Uint8Array): SecretKey {
  const pair = seed ? nacl.sign.keyPair.fromSeed(seed) : nacl.sign.keyPair();
  return {
    keytype: 'ed25519',
    keyid: keyIdOf(pair.publicKey),
    public: Buffer.from(pair.publicKey).toString('base64'),
    ...(name ? { name } : {}),
    secret: Buffer.from(pair.secretKey).toString('base64'),
  };
}

export function publicPart(key: SecretKey | PublicKey): PublicKey {
  return { keytype: key.keytype, keyid: key.keyid, public: key.public, ...(key.name ? { name: key.name } : {}) };
}

/** Writes PREFIX.key (0600) and PREFIX.pub, each atomically; refuses to overwrite an existing key. */
export async function writeKeyFiles(prefix: string, key: SecretKey): Promise<{ secretPath: string; publicPath: string }> {
  const secretPath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  for (const path of [secretPath, publicPath]) {
    const exists = await readFile(path).then(() => true, () => false);
    if (exists) throw new AirlockError('KEY_INVALID', `${path} already exists; refusing to overwrite a key (choose another --out)`);
  }
  await writeFileAtomic(secretPath, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600, overwrite: false });
  await writeFileAtomic(publicPath, `${JSON.stringify(publicPart(key), null, 2)}\n`, { overwrite: false });
  return { secretPath, publicPath };
}

export async function readPublicKey(path: string): Promise<PublicKey> {
  const key = await readKeyJson(path);
  return publicPart(checkPublic(key, path));
}

export async function readSecretKey(path: string): Promise<SecretKey> {
  const key = checkPublic(await readKeyJson(path), path) as SecretKey;
  const secret = typeof key.secret === 'string' ? Buffer.from(key.secret, 'base64') : Buffer.alloc(0);
  if (secret.length !== 64) throw new AirlockError('KEY_INVALID', `${path} is not an airlock secret key (use the .key file from \`airlock keys generate\`)`);
  if (!Buffer.from(nacl.sign.keyPair.fromSecretKey(secret).publicKey).equals(Buffer.from(key.public, 'base64'))) {
    throw new AirlockError('KEY_INVALID', `${path}: the secret and public halves do not match`);
  }
  return key;
}

async function readKeyJson(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AirlockError('KEY_INVALID', `cannot read key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new AirlockError('KEY_INVALID', `${path} is not an airlock key file (not JSON)`, { cause: err });
  }
}

function checkPublic(key: Record<string, unknown>, path: string): PublicKey {
  const pub = typeof key.public === 'string' ? Buffer.from(key.public, 'base64') : Buffer.alloc(0);
  if (key.keytype !== 'ed25519' || pub.length !== 32) {
    throw new AirlockError('KEY_INVALID', `${path} is not an airlock ed25519 key file`);
  }
  if (key.keyid !== keyIdOf(pub)) throw new AirlockError('KEY_INVALID', `${path}: the key id does not match the public key`);
  return key as unknown as PublicKey;
}
