/**
 * Trust roots (`root.json`): root and release keys with a threshold each, a version and an expiry, as a DSSE
 * envelope signed by a threshold of its own root keys. A newer root is accepted only when signed by thresholds
 * of both the old and the new root keys, and exactly one version newer (TUF's root rotation).
 */
import { readFile } from 'node:fs/promises';
import { AirlockError } from '../src/errors.js';
import { type DsseEnvelope, parseEnvelope, serializeEnvelope, signEnvelope } from './dsse.js';
import { type PublicKey, type SecretKey, keyIdOf } from './key-file.js';
import { type Role, type TrustedKey, type Verdict, evaluateSignatures, isExpired } from './policy.js';

export const ROOT_PAYLOAD_TYPE = 'application/vnd.airlock.root.v1+json';

export interface TrustRoot {
  type: 'airlock-root';
  version: number;
  expires: string;
  keys: Record<string, TrustedKey>;
  roles: { root: Role; release: Role };
}

export interface TrustRootInput {
  rootKeys: PublicKey[];
  releaseKeys: PublicKey[];
  rootThreshold?: number;
  releaseThreshold?: number;
  version?: number;
  expires: Date;
}

export function buildTrustRoot({ rootKeys, releaseKeys, rootThreshold = 1, releaseThreshold = 1, version = 1, expires }: TrustRootInput): TrustRoot {
  const keys: Record<string, TrustedKey> = {};
  for (const k of [...rootKeys, ...releaseKeys]) keys[k.keyid] = { keytype: 'ed25519', public: k.public, ...(k.name ? { name: k.name } : {}) };
  const root: TrustRoot = {
    type: 'airlock-root',
    version,
    expires: expires.toISOString(),
    keys,
    roles: {
      root: { keyids: unique(rootKeys.map((k) => k.keyid)), threshold: rootThreshold },
      release: { keyids: unique(releaseKeys.map((k) => k.keyid)), threshold: releaseThreshold },
    },
  };
  const problem = checkShape(root);
  if (problem) throw new AirlockError('TRUST_ROOT_INVALID', problem);
  return root;
}

export function signTrustRoot(root: TrustRoot, signers: SecretKey[]): string {
  return `${serializeEnvelope(signEnvelope(ROOT_PAYLOAD_TYPE, Buffer.from(JSON.stringify(root)), signers))}\n`;
}

/** Parses `root.json` and checks it is signed by a threshold of its own root keys and not expired. */
export function verifyTrustRoot(text: string, now: Date, label = 'root.json'): Verdict<TrustRoot> & { envelope?: DsseEnvelope } {
  const verdict = verifyTrustRootSignatures(text, label);
  if (verdict.ok && verdict.value && isExpired(verdict.value.expires, now)) {
    return { ok: false, signers: verdict.signers, value: verdict.value, error: { code: 'TRUST_ROOT_EXPIRED', message: `${label}: the trust root (version ${verdict.value.version}) expired at ${verdict.value.expires}` } };
  }
  return verdict;
}

/**
 * Parses `root.json` and checks its shape and that a threshold of its own root keys signed it, whatever its
 * expiry: an appliance whose root expired still knows which keys it trusted (to serve, and to check a rotation).
 */
export function verifyTrustRootSignatures(text: string, label = 'root.json'): Verdict<TrustRoot> & { envelope?: DsseEnvelope } {
  let envelope: DsseEnvelope;
  let root: TrustRoot;
  try {
    envelope = parseEnvelope(text.trim(), label);
    root = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as TrustRoot;
  } catch (err) {
    return { ok: false, signers: [], error: { code: 'TRUST_ROOT_INVALID', message: `${label}: ${(err as Error).message}` } };
  }
  const problem = checkShape(root);
  if (problem) return { ok: false, signers: [], error: { code: 'TRUST_ROOT_INVALID', message: `${label}: ${problem}` } };
  const verdict = evaluateSignatures({ envelope, payloadType: ROOT_PAYLOAD_TYPE, keys: root.keys, role: root.roles.root, roleName: 'root' });
  if (!verdict.ok) return { ok: false, signers: verdict.signers, error: { code: 'TRUST_ROOT_INVALID', message: `${label}: ${verdict.error?.message}` } };
  return { ok: true, signers: verdict.signers, value: root, envelope };
}

/**
 * Checks a proposed new root against the one in force: a threshold of the new root's own root keys, a threshold of
 * the current root's root keys, and version exactly one newer. The new root must not have expired (unless
 * `allowExpired`, for walking a chain of roots accepted earlier); the current root's expiry does not matter (see
 * docs/adr/010-trust-root-lifecycle.md).
 */
export function verifyRootRotation(current: TrustRoot, nextText: string, now: Date, { allowExpired = false, label = 'new trust root' } = {}): Verdict<TrustRoot> {
  const next = allowExpired ? verifyTrustRootSignatures(nextText, label) : verifyTrustRoot(nextText, now, label);
  if (!next.ok || !next.value || !next.envelope) return next;
  if (next.value.version !== current.version + 1) {
    return { ok: false, signers: next.signers, error: { code: 'TRUST_ROOT_INVALID', message: `${label} has version ${next.value.version}; only version ${current.version + 1} can follow ${current.version}` } };
  }
  const byOld = evaluateSignatures({ envelope: next.envelope, payloadType: ROOT_PAYLOAD_TYPE, keys: current.keys, role: current.roles.root, roleName: `root (of trust root version ${current.version})` });
  if (!byOld.ok) return { ok: false, signers: next.signers, error: { code: 'THRESHOLD_NOT_MET', message: `${label}: ${byOld.error?.message}` } };
  return { ok: true, signers: [...new Set([...next.signers, ...byOld.signers])], value: next.value };
}

/**
 * Reads a trust root and checks its shape and signatures, throwing a clear error when it cannot be trusted; an
 * expired root is returned (the appliance serves on with it, and `trustLifecycle` reports it).
 */
export function readTrustRoot(text: string, label: string): TrustRoot {
  const verdict = verifyTrustRootSignatures(text, label);
  if (!verdict.ok || !verdict.value) throw new AirlockError(verdict.error?.code ?? 'TRUST_ROOT_INVALID', verdict.error?.message ?? `${label} is not trusted`);
  return verdict.value;
}

/** Reads and verifies a trust root, throwing a clear error when it cannot be trusted. */
export function loadTrustRoot(text: string, now: Date, label: string): TrustRoot {
  const verdict = verifyTrustRoot(text, now, label);
  if (!verdict.ok || !verdict.value) throw new AirlockError(verdict.error?.code ?? 'TRUST_ROOT_INVALID', verdict.error?.message ?? `${label} is not trusted`);
  return verdict.value;
}

function checkShape(root: TrustRoot): string | undefined {
  if (root?.type !== 'airlock-root') return 'not an airlock trust root';
  if (!Number.isInteger(root.version) || root.version < 1) return 'version must be a whole number of at least 1';
  if (typeof root.expires !== 'string' || Number.isNaN(Date.parse(root.expires))) return 'expires must be an RFC 3339 time';
  for (const name of ['root', 'release'] as const) {
    const role = root.roles?.[name];
    if (!role || !Array.isArray(role.keyids) || role.keyids.length === 0) return `the ${name} role needs at least one key`;
    if (!Number.isInteger(role.threshold) || role.threshold < 1 || role.threshold > role.keyids.length) {
      return `the ${name} threshold must be between 1 and the number of ${name} keys (${role.keyids.length})`;
    }
    for (const id of role.keyids) {
      const key = root.keys?.[id];
      const raw = Buffer.from(key?.public ?? '', 'base64');
      if (!key || key.keytype !== 'ed25519' || raw.length !== 32) return `key ${id} of the ${name} role is missing or not ed25519`;
      if (keyIdOf(raw) !== id) return `key id ${id} does not match its public key`;
    }
  }
  return undefined;
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/** The text of a trust-root file; a file that cannot be read is TRUST_ROOT_INVALID, naming it. */
export async function readTrustRootFile(path: string): Promise<string> {
  return readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new AirlockError('TRUST_ROOT_INVALID', `cannot read trust root ${path}: ${err.code ?? err.message}`);
  });
}
