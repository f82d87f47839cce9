import { describe, expect, it } from 'vitest';
import { generateKey, publicPart } from '../../keys/key-file.js';
import { type Receipt, signReceipt, verifyReceipt } from '../../keys/receipt.js';

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
