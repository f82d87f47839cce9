/** Signing and checking a split bundle's parts index with the release keys of the trust root. */
import { PARTS_PAYLOAD_TYPE, type PartsIndex, partsIndexProblem } from '../src/bundle/parts.js';
import { AirlockError } from '../src/errors.js';
import { decodePayload, parseEnvelope, serializeEnvelope, signEnvelope } from './dsse.js';
import type { SecretKey } from './key-file.js';
import { evaluateSignatures } from './policy.js';
import type { TrustRoot } from './trust-root.js';

export function signPartsIndex(index: PartsIndex, keys: SecretKey[]): string {
  return `${serializeEnvelope(signEnvelope(PARTS_PAYLOAD_TYPE, Buffer.from(JSON.stringify(index)), keys))}\n`;
}

/** The index, once a threshold of the trust root's release keys signed it. `label` names the file in errors. */
export function verifyPartsIndex(text: string, trust: TrustRoot, label: string): PartsIndex {
  const envelope = parseEnvelope(text.trim(), label);
  const verdict = evaluateSignatures({ envelope, payloadType: PARTS_PAYLOAD_TYPE, keys: trust.keys, role: trust.roles.release, roleName: 'release' });
  if (!verdict.ok || !verdict.value) throw new AirlockError(verdict.error?.code ?? 'SIGNATURE_INVALID', `${label}: ${verdict.error?.message ?? 'not trusted'}`);
  return parsed(verdict.value, label);
}

/** The index without checking signatures: for a client that only joins parts for an appliance that verifies. */
export function unverifiedPartsIndex(text: string, label: string): PartsIndex {
  const envelope = parseEnvelope(text.trim(), label);
  if (envelope.payloadType !== PARTS_PAYLOAD_TYPE) throw new AirlockError('SIGNATURE_INVALID', `${label} is not a parts index (payload type ${envelope.payloadType})`);
  return parsed(decodePayload(envelope), label);
}

function parsed(bytes: Buffer, label: string): PartsIndex {
  let index: PartsIndex;
  try {
    index = JSON.parse(bytes.toString('utf8')) as PartsIndex;
  } catch (err) {
    throw new AirlockError('BUNDLE_CORRUPT', `${label}: the payload is not JSON`, { cause: err });
  }
  const problem = partsIndexProblem(index);
  if (problem) throw new AirlockError('BUNDLE_CORRUPT', `${label}: ${problem}`);
  return index;
}
