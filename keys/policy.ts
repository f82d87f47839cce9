/**
 * Trust policy evaluation: pure functions from plain data (an envelope, the trusted keys, the time, the last
 * accepted state) to a verdict. No I/O, no clock of their own. Fails closed: anything not proven is a failure.
 */
import type { ErrorCode } from '../src/errors.js';
import { type DsseEnvelope, decodePayload, verifySignature } from './dsse.js';

export interface TrustedKey {
  keytype: 'ed25519';
  public: string;
  name?: string;
}

export interface Role {
  keyids: string[];
  threshold: number;
}

export interface Verdict<T> {
  ok: boolean;
  /** Distinct key ids whose signatures verified and that the role trusts. */
  signers: string[];
  value?: T;
  error?: { code: ErrorCode; message: string };
}

export interface SignatureCheck {
  envelope: DsseEnvelope;
  payloadType: string;
  keys: Record<string, TrustedKey>;
  role: Role;
  roleName: string;
}

/** Counts distinct trusted keys with a valid signature; one key signing twice counts once. */
export function evaluateSignatures({ envelope, payloadType, keys, role, roleName }: SignatureCheck): Verdict<Buffer> {
  if (envelope.payloadType !== payloadType) {
    return fail('SIGNATURE_INVALID', `wrong payload type "${envelope.payloadType}" (expected ${payloadType})`);
  }
  if (!Number.isInteger(role.threshold) || role.threshold < 1) {
    return fail('TRUST_ROOT_INVALID', `the ${roleName} threshold must be a whole number of at least 1`);
  }
  const signers = new Set<string>();
  const unknown: string[] = [];
  for (const sig of envelope.signatures) {
    const key = keys[sig.keyid];
    if (!key || !role.keyids.includes(sig.keyid)) {
      unknown.push(sig.keyid);
      continue;
    }
    if (verifySignature(envelope, sig, Buffer.from(key.public, 'base64'))) signers.add(sig.keyid);
  }
  const list = [...signers];
  if (list.length < role.threshold) {
    const detail = unknown.length ? `; signed by keys this trust root does not trust for ${roleName}: ${unknown.map(short).join(', ')}` : '';
    const code: ErrorCode = list.length === 0 && envelope.signatures.length > 0 && unknown.length === envelope.signatures.length ? 'SIGNATURE_INVALID' : 'THRESHOLD_NOT_MET';
    return {
      ok: false,
      signers: list,
      error: { code, message: `${list.length} valid ${roleName} signature(s), ${role.threshold} required${detail}` },
    };
  }
  return { ok: true, signers: list, value: decodePayload(envelope) };
}

/** An expiry timestamp (RFC 3339) checked against `now`; missing or malformed counts as expired. */
export function isExpired(expires: string | undefined, now: Date): boolean {
  if (!expires) return true;
  const t = Date.parse(expires);
  return Number.isNaN(t) || t <= now.getTime();
}

export function short(keyid: string): string {
  return keyid.slice(0, 12);
}

function fail<T>(code: ErrorCode, message: string): Verdict<T> {
  return { ok: false, signers: [], error: { code, message } };
}
