import { describe, expect, it } from 'vitest';
import { generateKey, publicPart } from '../../keys/key-file.js';
import { DRIFTED_NAMES, type Receipt, signReceipt, verifyReceipt } from '../../keys/receipt.js';
import { driftedNames } from '../../appliance/receipt.js';
import { drifted } from '../../src/fleet/pages.js';

const site = generateKey('site');
const stranger = generateKey('stranger');
const receipt: Receipt = {
  type: 'airlock-receipt',
  created: '2026-11-21T00:00:00.000Z',
  appliance: site.keyid,
  channels: [{ channel: 'stable', name: 'store', sequence: 3, root: `sha256:${'1'.repeat(64)}`, appliedAt: '2026-11-20T00:00:00.000Z', sync: 'Synced', health: 'Healthy' }],
  blobs: [`sha256:${'2'.repeat(64)}`],
  git: [{ name: 'platform', commits: ['3'.repeat(40)] }],
};

function edit(text: string, change: (r: Receipt) => void): string {
  const env = JSON.parse(text) as { payload: string };
  const r = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as Receipt;
  change(r);
  return JSON.stringify({ ...env, payload: Buffer.from(JSON.stringify(r)).toString('base64') });
}

describe('site receipts', () => {
  const text = signReceipt(receipt, site);

  it('verify with the appliance key and give back the content', () => {
    expect(verifyReceipt(text, [publicPart(stranger), publicPart(site)], 'r.json')).toEqual({ receipt, signer: site.keyid });
  });

  it.each([
    ['signed by an unknown appliance', () => verifyReceipt(text, [publicPart(stranger)], 'r.json'), /r\.json: receipt rejected: it is signed by .*not by a trusted appliance key/],
    ['tampered', () => verifyReceipt(edit(text, (r) => r.blobs.push(`sha256:${'9'.repeat(64)}`)), [publicPart(site)], 'r.json'), /r\.json: .*does not verify/],
    ['not JSON', () => verifyReceipt('nope', [publicPart(site)], 'r.json'), /r\.json is not a DSSE envelope/],
    ['with no key given', () => verifyReceipt(text, [], 'r.json'), /none given/],
  ])('are rejected when %s', (_label, call, message) => {
    expect(call).toThrow(message);
  });

  it('reject a well-signed document of the wrong shape', () => {
    const odd = signReceipt({ ...receipt, git: [{ name: 'platform', commits: ['not-a-commit'] }] }, site);
    expect(() => verifyReceipt(odd, [publicPart(site)], 'r.json')).toThrow(/malformed git commit/);
  });
});

describe('drifted objects by name in a receipt', () => {
  const placement = { cluster: 'pos', channel: 'stable', root: `sha256:${'1'.repeat(64)}`, sync: 'OutOfSync', health: 'Healthy', drifted: 2, checkedAt: '2026-11-21T00:00:00.000Z' };

  it('are optional: a receipt of an appliance that does not name them verifies as before', () => {
    const old = signReceipt({ ...receipt, placements: [placement] }, site);
    expect(verifyReceipt(old, [publicPart(site)], 'r.json').receipt.placements?.[0]).toEqual(placement);
  });

  it('verify and come back as listed', () => {
    const named = { ...placement, driftedObjects: ['ConfigMap default/a', 'Deployment shop/web'] };
    const text = signReceipt({ ...receipt, placements: [named] }, site);
    expect(verifyReceipt(text, [publicPart(site)], 'r.json').receipt.placements?.[0]?.driftedObjects).toEqual(['ConfigMap default/a', 'Deployment shop/web']);
  });

  it.each([
    ['a string', 'Deployment shop/web'],
    ['a list with a number', ['Deployment shop/web', 7]],
    ['a list longer than the limit', Array.from({ length: DRIFTED_NAMES + 1 }, (_, i) => `ConfigMap default/c${i}`)],
  ])('are rejected as %s', (_label, value) => {
    const odd = signReceipt({ ...receipt, placements: [{ ...placement, driftedObjects: value as string[] }] }, site);
    expect(() => verifyReceipt(odd, [publicPart(site)], 'r.json')).toThrow(/r\.json: the receipt names a placement's drifted objects with something other than a list of at most 20 strings/);
  });

  it('are written by the appliance sorted, kind then namespace/name, at most 20', () => {
    const objects = [
      { kind: 'Deployment', namespace: 'shop', name: 'web', sync: 'OutOfSync' as const },
      { kind: 'Namespace', name: 'shop', sync: 'Missing' as const },
      { kind: 'ConfigMap', namespace: 'shop', name: 'fine', sync: 'Synced' as const },
      ...Array.from({ length: 30 }, (_, i) => ({ kind: 'ConfigMap', namespace: 'shop', name: `c${String(i).padStart(2, '0')}`, sync: 'OutOfSync' as const })),
    ];
    const names = driftedNames(objects);
    expect(names).toHaveLength(DRIFTED_NAMES);
    expect(names.slice(0, 2)).toEqual(['ConfigMap shop/c00', 'ConfigMap shop/c01']);
    expect(names).not.toContain('ConfigMap shop/fine');
    expect(driftedNames(objects.slice(0, 3))).toEqual(['Deployment shop/web', 'Namespace shop']);
  });

  it('show on a fleet site\'s detail, with how many more the count says there are', () => {
    expect(drifted({ drifted: 0 }).text).toBe('0');
    expect(drifted({ drifted: 3 }).text).toBe('3');
    const shown = drifted({ drifted: 25, driftedObjects: ['ConfigMap shop/a', 'Deployment shop/<web>'] }).text;
    expect(shown).toContain('<div class="mono drifted-object">ConfigMap shop/a</div>');
    expect(shown).toContain('Deployment shop/&lt;web&gt;');
    expect(shown).toContain('and 23 more');
    expect(drifted({ drifted: 1, driftedObjects: ['ConfigMap shop/a'] }).text).not.toContain('more');
  });
});
