/**
 * Acceptance of a bundle statement against a trust root: a threshold of release keys, the channel, rollback
 * protection by sequence, and expiry. A pure function of its inputs.
 */
import { STATEMENT_PAYLOAD_TYPE, type Statement } from '../src/bundle/format.js';
import type { DsseEnvelope } from './dsse.js';
import { type Verdict, evaluateSignatures, isExpired } from './policy.js';
import { type CarriedRoot, trustForStatement } from './rotation.js';
import type { TrustRoot } from './trust-root.js';

export interface AcceptedState {
  sequence: number;
  rootDigest: string;
}

export interface StatementCheck {
  envelope: DsseEnvelope;
  trust: TrustRoot;
  now: Date;
  /** The channel the site follows; unchecked when omitted (offline `bundle verify`). */
  channel?: string;
  /** The last bundle accepted on the channel, for rollback protection. */
  lastAccepted?: AcceptedState;
}

export interface StatementVerdict extends Verdict<Statement> {
  /** The same bundle as the one in force: an idempotent re-import. */
  sameAsAccepted?: boolean;
  /** The next trust root the bundle carries, which passed the rotation rule; the statement was checked under it. */
  nextRoot?: CarriedRoot;
}

export function evaluateStatement({ envelope, trust: inForce, now, channel, lastAccepted }: StatementCheck): StatementVerdict {
  // A carried next root is checked first (TUF's order): an appliance whose root expired can be rescued by it.
  const rotation = trustForStatement(inForce, envelope, now);
  if (!rotation.ok || !rotation.value) return { ok: false, signers: [], error: rotation.error ?? { code: 'TRUST_ROOT_INVALID', message: 'the carried trust root is not valid' } };
  const { trust, next } = rotation.value;
  const rotated = next ? { nextRoot: next } : {};
  if (isExpired(trust.expires, now)) {
    return {
      ok: false,
      signers: [],
      error: { code: 'TRUST_ROOT_EXPIRED', message: `the trust root (version ${trust.version}) expired at ${trust.expires}; no new bundle is accepted until one carries trust root version ${trust.version + 1} signed under the rotation rule` },
    };
  }
  const sigs = evaluateSignatures({ envelope, payloadType: STATEMENT_PAYLOAD_TYPE, keys: trust.keys, role: trust.roles.release, roleName: 'release' });
  if (!sigs.ok || !sigs.value) return { ok: false, signers: sigs.signers, error: sigs.error ?? { code: 'SIGNATURE_INVALID', message: 'unsigned' } };
  const { signers } = sigs;
  const statement = parseStatement(sigs.value);
  if (!statement) return { ok: false, signers, error: { code: 'SIGNATURE_INVALID', message: 'the signed statement is malformed' } };
  if (statement.expires !== undefined && isExpired(statement.expires, now)) {
    return { ok: false, signers, value: statement, error: { code: 'EXPIRED', message: `the bundle expired at ${statement.expires}` } };
  }
  if (channel !== undefined && statement.channel !== channel) {
    return { ok: false, signers, value: statement, error: { code: 'CHANNEL_MISMATCH', message: `the bundle is for channel "${statement.channel}", this site follows "${channel}"` } };
  }
  if (lastAccepted) {
    // The very content in force (also after an operator re-applied an earlier bundle, when the highest sequence
    // seen is newer than the bundle in force): nothing to do, and nothing a replay could change.
    if (statement.root.digest === lastAccepted.rootDigest && statement.sequence <= lastAccepted.sequence) {
      return { ok: true, signers, value: statement, sameAsAccepted: true, ...rotated };
    }
    if (statement.sequence <= lastAccepted.sequence) {
      return {
        ok: false,
        signers,
        value: statement,
        error: { code: 'ROLLBACK', message: `sequence ${statement.sequence} is not newer than ${lastAccepted.sequence}, the last one accepted on channel "${statement.channel}" (a replay or rollback)` },
      };
    }
  }
  return { ok: true, signers, value: statement, ...rotated };
}

function parseStatement(bytes: Buffer): Statement | undefined {
  try {
    const s = JSON.parse(bytes.toString('utf8')) as Statement;
    const ok =
      s.type === 'airlock-statement' &&
      typeof s.name === 'string' &&
      typeof s.channel === 'string' &&
      Number.isSafeInteger(s.sequence) &&
      s.sequence >= 0 &&
      typeof s.created === 'string' &&
      (s.expires === undefined || typeof s.expires === 'string') &&
      typeof s.root?.digest === 'string' &&
      /^sha256:[a-f0-9]{64}$/.test(s.root.digest) &&
      Number.isSafeInteger(s.root.size) &&
      typeof s.root.mediaType === 'string' &&
      ((s as { trustRoot?: unknown }).trustRoot === undefined || typeof (s as { trustRoot?: unknown }).trustRoot === 'string') &&
      (s.base === undefined || /^sha256:[a-f0-9]{64}$/.test(s.base)) &&
      (s.baseSite === undefined || /^[a-f0-9]{64}$/.test(s.baseSite));
    return ok ? s : undefined;
  } catch {
    return undefined;
  }
}
