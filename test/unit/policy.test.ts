import { describe, expect, it } from 'vitest';
import { STATEMENT_PAYLOAD_TYPE, type Statement } from '../../src/bundle/format.js';
import { type DsseEnvelope, signEnvelope } from '../../keys/dsse.js';
import { generateKey, publicPart } from '../../keys/key-file.js';
import { evaluateSignatures } from '../../keys/policy.js';
import { evaluateStatement } from '../../keys/statement-policy.js';
import { buildTrustRoot, type TrustRoot } from '../../keys/trust-root.js';

const now = new Date('2026-06-01T00:00:00Z');
const rootKey = generateKey('root');
const [a, b, c] = [generateKey('a'), generateKey('b'), generateKey('c')];
const stranger = generateKey('stranger');
const D = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function trust(threshold: number, expires = new Date('2027-01-01T00:00:00Z')): TrustRoot {
  return buildTrustRoot({ rootKeys: [publicPart(rootKey)], releaseKeys: [a, b, c].map((k) => publicPart(k!)), releaseThreshold: threshold, expires });
}

function statement(over: Partial<Statement> = {}): Statement {
  return { type: 'airlock-statement', name: 'edge', channel: 'stable', sequence: 10, created: '2026-05-01T00:00:00Z', root: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: D, size: 100 }, ...over };
}

function envelope(keys = [a!], over: Partial<Statement> = {}, payloadType = STATEMENT_PAYLOAD_TYPE): DsseEnvelope {
  return signEnvelope(payloadType, Buffer.from(JSON.stringify(statement(over))), keys);
}

function tamper(env: DsseEnvelope): DsseEnvelope {
  const payload = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as Statement;
  payload.sequence += 1;
  return { ...env, payload: Buffer.from(JSON.stringify(payload)).toString('base64') };
}

describe('evaluateStatement (trust policy, table)', () => {
  const cases: { name: string; env: () => DsseEnvelope; threshold?: number; expect: { ok: boolean; code?: string; signers?: number } }[] = [
    { name: 'one trusted key, threshold 1', env: () => envelope([a!]), expect: { ok: true, signers: 1 } },
    { name: 'unknown key', env: () => envelope([stranger]), expect: { ok: false, code: 'SIGNATURE_INVALID', signers: 0 } },
    { name: 'unknown key beside a trusted one, threshold 2', env: () => envelope([a!, stranger]), threshold: 2, expect: { ok: false, code: 'THRESHOLD_NOT_MET', signers: 1 } },
    { name: 'below threshold', env: () => envelope([a!]), threshold: 2, expect: { ok: false, code: 'THRESHOLD_NOT_MET', signers: 1 } },
    { name: 'threshold met by two keys', env: () => envelope([a!, b!]), threshold: 2, expect: { ok: true, signers: 2 } },
    { name: 'one key signing twice counts once', env: () => envelope([a!, a!]), threshold: 2, expect: { ok: false, code: 'THRESHOLD_NOT_MET', signers: 1 } },
    { name: 'tampered payload', env: () => tamper(envelope([a!])), expect: { ok: false, code: 'THRESHOLD_NOT_MET', signers: 0 } },
    { name: 'wrong payload type', env: () => envelope([a!], {}, 'application/vnd.in-toto+json'), expect: { ok: false, code: 'SIGNATURE_INVALID' } },
    { name: 'expired statement', env: () => envelope([a!], { expires: '2026-05-31T23:59:59Z' }), expect: { ok: false, code: 'EXPIRED', signers: 1 } },
    { name: 'not yet expired statement', env: () => envelope([a!], { expires: '2026-06-02T00:00:00Z' }), expect: { ok: true } },
    { name: 'signature swapped from another key id', env: () => { const e = envelope([a!]); return { ...e, signatures: [{ keyid: b!.keyid, sig: e.signatures[0]!.sig }] }; }, expect: { ok: false, code: 'THRESHOLD_NOT_MET', signers: 0 } },
  ];
  it.each(cases)('$name', ({ env, threshold = 1, expect: want }) => {
    const verdict = evaluateStatement({ envelope: env(), trust: trust(threshold), now });
    expect(verdict.ok).toBe(want.ok);
    if (want.code) expect(verdict.error?.code).toBe(want.code);
    if (want.signers !== undefined) expect(verdict.signers).toHaveLength(want.signers);
  });

  it('fails closed when the trust root itself has expired', () => {
    const verdict = evaluateStatement({ envelope: envelope([a!]), trust: trust(1, new Date('2026-05-01T00:00:00Z')), now });
    expect(verdict).toMatchObject({ ok: false, error: { code: 'TRUST_ROOT_EXPIRED' } });
  });

  it('checks the channel when the site names one', () => {
    expect(evaluateStatement({ envelope: envelope([a!]), trust: trust(1), now, channel: 'beta' }).error?.code).toBe('CHANNEL_MISMATCH');
    expect(evaluateStatement({ envelope: envelope([a!]), trust: trust(1), now, channel: 'stable' }).ok).toBe(true);
  });

  it.each([
    ['older sequence (replay)', { sequence: 11, rootDigest: D2 }, false, 'ROLLBACK'],
    ['same sequence, other root', { sequence: 10, rootDigest: D2 }, false, 'ROLLBACK'],
    ['same sequence, same root (idempotent)', { sequence: 10, rootDigest: D }, true, undefined],
    ['the root in force after a re-apply of it, newer sequences seen since (idempotent)', { sequence: 12, rootDigest: D }, true, undefined],
    ['newer sequence', { sequence: 9, rootDigest: D2 }, true, undefined],
  ])('rollback protection: %s', (_name, lastAccepted, ok, code) => {
    const verdict = evaluateStatement({ envelope: envelope([a!]), trust: trust(1), now, lastAccepted });
    expect(verdict.ok).toBe(ok);
    expect(verdict.error?.code).toBe(code);
    if (ok && lastAccepted.rootDigest === D) expect(verdict.sameAsAccepted).toBe(true);
  });
});

describe('evaluateSignatures', () => {
  it('does not count a key the role does not list, even if the key is known', () => {
    const t = trust(1);
    const env = signEnvelope(STATEMENT_PAYLOAD_TYPE, Buffer.from('{}'), [rootKey]);
    const verdict = evaluateSignatures({ envelope: env, payloadType: STATEMENT_PAYLOAD_TYPE, keys: t.keys, role: t.roles.release, roleName: 'release' });
    expect(verdict.ok).toBe(false);
    expect(verdict.error?.message).toContain('does not trust for release');
  });
});
