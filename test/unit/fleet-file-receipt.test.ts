/**
 * Filing a receipt read from a folder: a receipt in the form appliances write is routed to its site by its key id
 * without a first parse; any other form is parsed first. Both reach the same verdicts, and text that only looks
 * like the appliance form up to the key id is never accepted on that account.
 */
import { describe, expect, it } from 'vitest';
import { generateKey, publicPart } from '../../keys/key-file.js';
import { signReceipt } from '../../keys/receipt.js';
import type { FleetSite } from '../../src/fleet/load.js';
import { type ReadResult, fileReceipt, siteIndex } from '../../src/fleet/receipts.js';

const ROOT = `sha256:${'c'.repeat(64)}`;
const a = generateKey('a');
const b = generateKey('b');
const sites: FleetSite[] = [
  { name: 'store-a', labels: {}, key: publicPart(a), origin: 'test' },
  { name: 'store-b', labels: {}, key: publicPart(b), origin: 'test' },
];

function text(key = a, site = 'store-a', health = 'Healthy'): string {
  const created = '2026-11-30T11:00:00.000Z';
  return signReceipt(
    {
      type: 'airlock-receipt',
      created,
      appliance: key.keyid,
      site,
      channels: [{ channel: 'stable', name: 'pos', sequence: 1, root: ROOT, appliedAt: created, sync: 'Synced', health }],
      placements: [{ cluster: 'pos', channel: 'stable', root: ROOT, sync: 'Synced', health, drifted: 0, checkedAt: created }],
      blobs: [],
      git: [],
    },
    key,
  );
}

function file(t: string): ReadResult {
  const result: ReadResult = { reports: new Map(sites.map((s) => [s.name, { site: s.name, older: [] }])), strangers: [], skipped: 0 };
  fileReceipt(t, 'test', siteIndex(sites), result, false);
  return result;
}

describe('fileReceipt', () => {
  it('files a receipt as appliances write it, and the same receipt in any other JSON layout, alike', () => {
    const canonical = text();
    expect(canonical.startsWith('{"payload":"')).toBe(true);
    const pretty = JSON.stringify(JSON.parse(canonical), null, 2);
    for (const t of [canonical, `${canonical}\n`, pretty]) {
      const r = file(t);
      expect(r.reports.get('store-a')?.latest?.signer).toBe(a.keyid);
      expect(r.reports.get('store-a')?.untrusted).toBeUndefined();
      expect(r.skipped).toBe(0);
    }
  });

  it('refuses an altered receipt and one claiming a site it was not signed for, with reasons', () => {
    const env = JSON.parse(text()) as { payload: string };
    const altered = text().replace(env.payload, Buffer.from(Buffer.from(env.payload, 'base64').toString('utf8').replace('Healthy', 'Healthz')).toString('base64'));
    expect(file(altered).reports.get('store-a')).toMatchObject({ untrusted: { why: expect.stringMatching(/does not verify/) as unknown as string } });
    expect(file(altered).reports.get('store-a')?.latest).toBeUndefined();
    // Signed by b's key but claiming a: routed to b by its key, where it verifies (the key decides, not the claim).
    expect(file(text(b, 'store-a')).reports.get('store-b')?.latest?.signer).toBe(b.keyid);
    const stranger = file(text(generateKey('x'), 'store-a'));
    expect(stranger.reports.get('store-a')?.untrusted?.why).toMatch(/not by a trusted appliance key/);
  });

  it('never accepts text that has the appliance form only up to the key id', () => {
    const canonical = text();
    // A later payloadType wins in JSON: the envelope is not a receipt any more.
    const retyped = `${canonical.slice(0, -1)},"payloadType":"application/vnd.in-toto+json"}`;
    expect(file(retyped).reports.get('store-a')?.latest).toBeUndefined();
    // Not JSON after the key id.
    expect(file(`${canonical.slice(0, canonical.indexOf('"sig"'))}`).reports.get('store-a')?.latest).toBeUndefined();
    // Other files: skipped.
    expect(file('{"payload":"x"}').skipped).toBe(1);
    expect(file('not json').skipped).toBe(1);
  });
});
