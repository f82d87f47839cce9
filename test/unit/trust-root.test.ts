import { describe, expect, it } from 'vitest';
import { generateKey, publicPart } from '../../keys/key-file.js';
import { buildTrustRoot, signTrustRoot, verifyRootRotation, verifyTrustRoot } from '../../keys/trust-root.js';
import { parseEnvelope, serializeEnvelope } from '../../keys/dsse.js';

const now = new Date('2026-06-01T00:00:00Z');
const expires = new Date('2027-06-01T00:00:00Z');
const [r1, r2, r3, rel] = [generateKey('r1'), generateKey('r2'), generateKey('r3'), generateKey('rel')];

const root = (rootKeys = [r1!, r2!], threshold = 2, version = 1) =>
  buildTrustRoot({ rootKeys: rootKeys.map(publicPart), releaseKeys: [publicPart(rel!)], rootThreshold: threshold, version, expires });

describe('trust roots', () => {
  it('accepts a root signed by a threshold of its own root keys', () => {
    const verdict = verifyTrustRoot(signTrustRoot(root(), [r1!, r2!]), now);
    expect(verdict.ok).toBe(true);
    expect(verdict.signers.sort()).toEqual([r1!.keyid, r2!.keyid].sort());
  });

  it('rejects a root below its root threshold', () => {
    const verdict = verifyTrustRoot(signTrustRoot(root(), [r1!]), now);
    expect(verdict).toMatchObject({ ok: false, error: { code: 'TRUST_ROOT_INVALID' } });
    expect(verdict.error?.message).toContain('1 valid root signature(s), 2 required');
  });

  it('rejects a root signed by a release key', () => {
    expect(verifyTrustRoot(signTrustRoot(root([r1!], 1), [rel!]), now).ok).toBe(false);
  });

  it('rejects an expired root', () => {
    expect(verifyTrustRoot(signTrustRoot(root(), [r1!, r2!]), new Date('2027-06-02T00:00:00Z'))).toMatchObject({ ok: false, error: { code: 'TRUST_ROOT_EXPIRED' } });
  });

  it('rejects a root whose payload was edited after signing', () => {
    const env = parseEnvelope(signTrustRoot(root(), [r1!, r2!]), 'root');
    const payload = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as { roles: { release: { threshold: number } } };
    payload.roles.release.threshold = 1;
    const edited = serializeEnvelope({ ...env, payload: Buffer.from(JSON.stringify({ ...payload, version: 2 })).toString('base64') });
    expect(verifyTrustRoot(edited, now).ok).toBe(false);
  });

  it('refuses thresholds larger than the key count', () => {
    expect(() => root([r1!], 2)).toThrow('between 1 and the number of root keys');
  });

  describe('rotation', () => {
    const current = root();
    it('accepts version+1 signed by both the old and the new root thresholds', () => {
      const next = signTrustRoot(root([r2!, r3!], 2, 2), [r1!, r2!, r3!]);
      expect(verifyRootRotation(current, next, now).ok).toBe(true);
    });
    it('rejects a new root signed only by its new keys', () => {
      const next = signTrustRoot(root([r3!], 1, 2), [r3!]);
      expect(verifyRootRotation(current, next, now)).toMatchObject({ ok: false, error: { code: 'THRESHOLD_NOT_MET' } });
    });
    it('rejects a version jump', () => {
      const next = signTrustRoot(root([r1!, r2!], 2, 3), [r1!, r2!]);
      expect(verifyRootRotation(current, next, now).error?.message).toContain('only version 2 can follow 1');
    });
  });
});
