import { describe, expect, it } from 'vitest';
import { STATEMENT_PAYLOAD_TYPE, type Statement } from '../../src/bundle/format.js';
import { type DsseEnvelope, parseEnvelope, serializeEnvelope, signEnvelope } from '../../keys/dsse.js';
import { type SecretKey, generateKey, publicPart } from '../../keys/key-file.js';
import { trustForStatement, trustLifecycle, walkRootChain } from '../../keys/rotation.js';
import { evaluateStatement } from '../../keys/statement-policy.js';
import { type TrustRoot, buildTrustRoot, signTrustRoot, verifyRootRotation, verifyTrustRoot } from '../../keys/trust-root.js';

const now = new Date('2026-06-01T00:00:00Z');
const later = new Date('2027-06-01T00:00:00Z');
const o1 = generateKey('old 1');
const o2 = generateKey('old 2');
const o3 = generateKey('old 3');
const n1 = generateKey('new 1');
const n2 = generateKey('new 2');
const [oldRelease, newRelease] = [generateKey('old release'), generateKey('new release')];
const stranger = generateKey('stranger');

// Version 1: root keys o1, o2, o3 with threshold 2 (2-of-3). Version 2: root keys n1, n2 with threshold 2 (2-of-2).
const v1 = buildTrustRoot({ rootKeys: [o1, o2, o3].map(publicPart), releaseKeys: [publicPart(oldRelease)], rootThreshold: 2, version: 1, expires: later });
const v2Root = (version = 2, expires = later): TrustRoot =>
  buildTrustRoot({ rootKeys: [n1, n2].map(publicPart), releaseKeys: [publicPart(newRelease)], rootThreshold: 2, version, expires });

/** Replaces one signature's bytes with another key's signature over a different payload: a forgery under a trusted key id. */
function forge(text: string, keyid: string): string {
  const env = parseEnvelope(text, 'root');
  const other = signEnvelope(env.payloadType, Buffer.from('{"something":"else"}'), [stranger]).signatures[0]?.sig ?? '';
  return serializeEnvelope({ ...env, signatures: env.signatures.map((s) => (s.keyid === keyid ? { keyid, sig: other } : s)) });
}

function statementEnvelope(keys: SecretKey[], over: Partial<Statement> & { trustRoot?: string } = {}): DsseEnvelope {
  const statement = { type: 'airlock-statement', name: 'edge', channel: 'stable', sequence: 5, created: '2026-05-01T00:00:00Z', root: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 10 }, ...over };
  return signEnvelope(STATEMENT_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), keys);
}

describe('the rotation rule (2-of-3 old root keys, 2-of-2 new root keys, version exactly one newer)', () => {
  const cases: { name: string; next: () => string; ok: boolean; code?: string; message?: string }[] = [
    { name: 'two old and both new keys sign version 2', next: () => signTrustRoot(v2Root(), [o1, o3, n1, n2]), ok: true },
    { name: 'all three old and both new keys sign', next: () => signTrustRoot(v2Root(), [o1, o2, o3, n1, n2]), ok: true },
    { name: 'old threshold short by one (1 of 3)', next: () => signTrustRoot(v2Root(), [o2, n1, n2]), ok: false, code: 'THRESHOLD_NOT_MET', message: '1 valid root (of trust root version 1) signature(s), 2 required' },
    { name: 'new threshold short by one (1 of 2)', next: () => signTrustRoot(v2Root(), [o1, o2, n1]), ok: false, code: 'TRUST_ROOT_INVALID', message: '1 valid root signature(s), 2 required' },
    { name: 'only the new keys sign', next: () => signTrustRoot(v2Root(), [n1, n2]), ok: false, code: 'THRESHOLD_NOT_MET' },
    { name: 'only the old keys sign', next: () => signTrustRoot(v2Root(), [o1, o2, o3]), ok: false, code: 'TRUST_ROOT_INVALID' },
    { name: 'a forged old signature makes the old count one short', next: () => forge(signTrustRoot(v2Root(), [o1, o2, n1, n2]), o2.keyid), ok: false, code: 'THRESHOLD_NOT_MET' },
    { name: 'a forged new signature makes the new count one short', next: () => forge(signTrustRoot(v2Root(), [o1, o2, n1, n2]), n2.keyid), ok: false, code: 'TRUST_ROOT_INVALID' },
    { name: 'version +2 (3 after 1)', next: () => signTrustRoot(v2Root(3), [o1, o2, n1, n2]), ok: false, code: 'TRUST_ROOT_INVALID', message: 'only version 2 can follow 1' },
    { name: 'the same version (1 again)', next: () => signTrustRoot(v2Root(1), [o1, o2, n1, n2]), ok: false, code: 'TRUST_ROOT_INVALID', message: 'only version 2 can follow 1' },
    { name: 'an expired next root', next: () => signTrustRoot(v2Root(2, new Date('2026-05-01T00:00:00Z')), [o1, o2, n1, n2]), ok: false, code: 'TRUST_ROOT_EXPIRED' },
  ];
  it.each(cases)('$name', ({ next, ok, code, message }) => {
    const verdict = verifyRootRotation(v1, next(), now);
    expect(verdict.ok).toBe(ok);
    if (ok) expect(verdict.value?.version).toBe(2);
    if (code) expect(verdict.error?.code).toBe(code);
    if (message) expect(verdict.error?.message).toContain(message);
  });

  it('holds even when the current root has expired (a rotation can rescue an expired site)', () => {
    const expiredV1 = buildTrustRoot({ rootKeys: [o1, o2, o3].map(publicPart), releaseKeys: [publicPart(oldRelease)], rootThreshold: 2, version: 1, expires: new Date('2026-01-01T00:00:00Z') });
    expect(verifyRootRotation(expiredV1, signTrustRoot(v2Root(), [o1, o2, n1, n2]), now).ok).toBe(true);
    expect(verifyRootRotation(expiredV1, signTrustRoot(v2Root(), [o1, n1, n2]), now).ok).toBe(false);
  });
});

describe('a statement carrying the next trust root', () => {
  const good = () => signTrustRoot(v2Root(), [o1, o2, n1, n2]);

  it('is checked under the next root: its release key signs, and the verdict hands the root over to persist', () => {
    const verdict = evaluateStatement({ envelope: statementEnvelope([newRelease], { trustRoot: good() }), trust: v1, now });
    expect(verdict.ok).toBe(true);
    expect(verdict.nextRoot?.root.version).toBe(2);
    expect(verifyTrustRoot(verdict.nextRoot?.text ?? '', now).value?.version).toBe(2);
  });

  it('is refused when signed by the old release key only (the new root decides)', () => {
    const verdict = evaluateStatement({ envelope: statementEnvelope([oldRelease], { trustRoot: good() }), trust: v1, now });
    expect(verdict).toMatchObject({ ok: false, error: { code: 'SIGNATURE_INVALID' } });
  });

  it('refuses the whole bundle when the carried rotation is forged', () => {
    const verdict = evaluateStatement({ envelope: statementEnvelope([newRelease], { trustRoot: forge(good(), o2.keyid) }), trust: v1, now });
    expect(verdict).toMatchObject({ ok: false, error: { code: 'THRESHOLD_NOT_MET' } });
    expect(verdict.nextRoot).toBeUndefined();
  });

  it('ignores a carried root no newer than the one in force (re-import after the rotation)', () => {
    const v2 = v2Root();
    const decision = trustForStatement(v2, statementEnvelope([newRelease], { trustRoot: good() }), now);
    expect(decision).toMatchObject({ ok: true, value: { trust: v2 } });
    expect(decision.value?.next).toBeUndefined();
  });

  it('refuses a carried root that is not a string', () => {
    const env = signEnvelope(STATEMENT_PAYLOAD_TYPE, Buffer.from(JSON.stringify({ trustRoot: { version: 2 } })), [newRelease]);
    expect(trustForStatement(v1, env, now)).toMatchObject({ ok: false, error: { code: 'TRUST_ROOT_INVALID' } });
  });

  it('with an expired root in force: refused without a rotation (TRUST_ROOT_EXPIRED), accepted with one', () => {
    const expiredV1 = buildTrustRoot({ rootKeys: [o1, o2, o3].map(publicPart), releaseKeys: [publicPart(oldRelease)], rootThreshold: 2, version: 1, expires: new Date('2026-01-01T00:00:00Z') });
    const plain = evaluateStatement({ envelope: statementEnvelope([oldRelease]), trust: expiredV1, now });
    expect(plain).toMatchObject({ ok: false, error: { code: 'TRUST_ROOT_EXPIRED' } });
    expect(plain.error?.message).toContain('version 2');
    const rescued = evaluateStatement({ envelope: statementEnvelope([newRelease], { trustRoot: good() }), trust: expiredV1, now });
    expect(rescued.ok).toBe(true);
    expect(rescued.nextRoot?.root.version).toBe(2);
  });
});

describe('walking the chain of accepted roots at start', () => {
  const n3 = generateKey('new 3');
  const v2 = signTrustRoot(v2Root(2, new Date('2026-05-01T00:00:00Z')), [o1, o2, n1, n2]); // expired since: fine as a link
  const v3 = signTrustRoot(buildTrustRoot({ rootKeys: [publicPart(n3)], releaseKeys: [publicPart(newRelease)], version: 3, expires: later }), [n1, n2, n3]);

  it('follows 1 → 2 → 3 whatever the order of the files, and skips roots older than the start', () => {
    const verdict = walkRootChain(v1, [{ text: v3, label: 'v3' }, { text: v2, label: 'v2' }], now);
    expect(verdict.value?.version).toBe(3);
    expect(walkRootChain(v2Root(2), [{ text: v2, label: 'v2' }], now).value?.version).toBe(2);
  });

  it('fails closed on a link that breaks the rule, or a root no chain leads to', () => {
    const forged = signTrustRoot(v2Root(), [o1, n1, n2]);
    expect(walkRootChain(v1, [{ text: forged, label: 'root-v2.json' }], now)).toMatchObject({ ok: false, error: { code: 'THRESHOLD_NOT_MET' } });
    expect(walkRootChain(v1, [{ text: v3, label: 'root-v3.json' }], now)).toMatchObject({ ok: false, error: { code: 'TRUST_ROOT_INVALID', message: expect.stringContaining('root-v3.json') } });
  });
});

describe('the trust root lifecycle', () => {
  const at = (expires: string) => trustLifecycle(buildTrustRoot({ rootKeys: [publicPart(o1)], releaseKeys: [publicPart(oldRelease)], expires: new Date(expires) }), now);
  it('is ok with more than 30 days left, expiring within 30 days, expired after', () => {
    expect(at('2026-08-01T00:00:00Z')).toMatchObject({ state: 'ok', daysLeft: 61, warnings: [] });
    expect(at('2026-07-01T00:00:00Z')).toMatchObject({ state: 'expiring', daysLeft: 30 });
    expect(at('2026-07-02T00:00:00Z').state).toBe('ok');
    expect(at('2026-06-10T12:00:00Z')).toMatchObject({ state: 'expiring', daysLeft: 10 });
    expect(at('2026-06-10T12:00:00Z').warnings[0]).toContain('in 10 day(s)');
    expect(at('2026-05-30T00:00:00Z')).toMatchObject({ state: 'expired', daysLeft: -2 });
    expect(at('2026-05-30T00:00:00Z').warnings[0]).toContain('TRUST_ROOT_EXPIRED');
  });
});
