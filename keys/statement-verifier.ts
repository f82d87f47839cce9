/** Binds the trust policy to the bundle reader: the envelope text in, a verified statement out, or an error. */
import type { VerifiedStatement } from '../src/bundle/reader.js';
import { AirlockError } from '../src/errors.js';
import { parseEnvelope } from './dsse.js';
import type { CarriedRoot } from './rotation.js';
import { type AcceptedState, evaluateStatement } from './statement-policy.js';
import type { TrustRoot } from './trust-root.js';
import { STATEMENT_PAYLOAD_TYPE, type Statement } from '../src/bundle/format.js';

export interface VerifierOptions {
  trust: TrustRoot;
  now: Date;
  channel?: string;
  lastAccepted?: AcceptedState;
}

export function statementVerifier(opts: VerifierOptions): (text: string) => VerifiedStatement & { sameAsAccepted: boolean; nextRoot?: CarriedRoot } {
  return (text) => {
    const envelope = parseEnvelope(text, 'the bundle signature', { canonical: true });
    const verdict = evaluateStatement({ envelope, ...opts });
    if (!verdict.ok || !verdict.value) {
      throw new AirlockError(verdict.error?.code ?? 'SIGNATURE_INVALID', `signature check failed: ${verdict.error?.message ?? 'not trusted'}`);
    }
    return { statement: verdict.value, signers: verdict.signers, sameAsAccepted: verdict.sameAsAccepted === true, ...(verdict.nextRoot ? { nextRoot: verdict.nextRoot } : {}) };
  };
}

/**
 * Reads the statement without checking any signature, for `bundle inspect`. The signers returned are the key
 * ids the envelope claims, not verified ones.
 */
export function unverifiedStatement(text: string): VerifiedStatement {
  const envelope = parseEnvelope(text, 'the bundle signature', { canonical: true });
  if (envelope.payloadType !== STATEMENT_PAYLOAD_TYPE) throw new AirlockError('SIGNATURE_INVALID', `wrong payload type ${envelope.payloadType}`);
  const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as Statement;
  if (typeof statement?.root?.digest !== 'string') throw new AirlockError('SIGNATURE_INVALID', 'the statement names no root');
  return { statement, signers: [...new Set(envelope.signatures.map((s) => s.keyid))] };
}
