/**
 * `airlock fleet status` against a real docker-registry depot (receipts at REPO/sites/SITE:latest, two releases
 * pushed with `bundle push`) and against a folder of receipts: every state of its own (current, behind,
 * degraded, stale, never-reported, untrusted), releases behind the head, waves, --by groups, and per-site
 * delta bundles that `bundle verify --base RECEIPT` accepts.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBase } from '../../bundler/base.js';
import { type SecretKey, generateKey } from '../../keys/key-file.js';
import { signReceipt } from '../../keys/receipt.js';
import { cli } from '../helpers/cli.js';
import type { TestRegistry } from '../helpers/registry.js';
import { makeTrust } from '../helpers/trust.js';
import { pushReceipt, receiptText, startFleetDepot } from './fleet-receipts.js';

const NOW = new Date('2026-11-30T12:00:00Z');
const ago = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000);

let registry: TestRegistry;
let work: string;
let depot: string;
let r1: string;
let r2: string;
let root1: string;
let root2: string;
const keys: Record<string, SecretKey> = {};
const k = (name: string) => join(work, name);
const env = () => ({ DOCKER_CONFIG: k('docker') });
const trust = makeTrust();

const SITES: [string, string][] = [
  ['store-1', '{ring: canary, region: eu}'],
  ['store-2', '{region: eu}'],
  ['store-3', '{region: us}'],
  ['store-4', '{region: us}'],
  ['store-5', '{region: us}'],
  ['store-6', '{region: eu}'],
];

interface JsonSite {
  name: string;
  state: string;
  wave: string | null;
  trust: string;
  rows: { cluster: string; state: string; behind: number | null; health: string; release: { root: string; sequence: number | null } | null; reason?: string }[];
}

beforeAll(async () => {
  ({ registry, work, depot, r1, r2, root1, root2 } = await startFleetDepot('fleet-status', trust, keys, SITES.map(([n]) => n)));
  await writeFile(
    k('fleet.yaml'),
    `kind: Fleet\nstale: 24h\nsites:\n${SITES.map(([n, l]) => `  - {name: ${n}, labels: ${l}, key: ${n}.pub}\n`).join('')}waves:\n  - {name: canary, selector: {matchLabels: {ring: canary}}, gate: {healthy: 100%, soak: 30m}}\n  - {name: rest, selector: {}}\n`,
  );

  const held1 = [...(await loadBase({ path: r1, applianceKeys: [] })).blobs].sort();
  const texts: Record<string, string> = {
    'store-1': receiptText(keys['store-1'] as SecretKey, { site: 'store-1', created: ago(5), root: root2, sequence: 2 }),
    // store-2 still runs release 1 (and holds its blobs): behind by one.
    'store-2': signReceipt({ ...JSON.parse(Buffer.from(JSON.parse(receiptText(keys['store-2'] as SecretKey, { site: 'store-2', created: ago(5), root: root1, sequence: 1 })).payload, 'base64').toString()), blobs: held1 }, keys['store-2'] as SecretKey),
    // store-3 never reports. store-4 was last heard of 30 hours ago.
    'store-4': receiptText(keys['store-4'] as SecretKey, { site: 'store-4', created: ago(30 * 60), root: root2, sequence: 2 }),
    // store-5's receipt is signed by a key that is not store-5's.
    'store-5': receiptText(generateKey('impostor'), { site: 'store-5', created: ago(5), root: root2, sequence: 2 }),
    'store-6': receiptText(keys['store-6'] as SecretKey, { site: 'store-6', created: ago(5), root: root2, sequence: 2, health: 'Degraded', reason: 'Deployment pos/web: 0 of 2 replicas available' }),
  };
  await mkdir(k('sticks/usb-1'), { recursive: true });
  for (const [site, text] of Object.entries(texts)) {
    await pushReceipt(depot, site, text, NOW);
    await writeFile(k(`sticks/usb-1/receipt-${site}.json`), text);
  }
  await writeFile(k('sticks/README.txt'), 'not a receipt');
}, 120_000);

afterAll(async () => {
  await registry?.stop();
});

function bySite(doc: { sites: JsonSite[] }): Record<string, JsonSite> {
  return Object.fromEntries(doc.sites.map((s) => [s.name, s]));
}

describe('fleet status', () => {
  it('reads every receipt from the depot, checks each signature, and gives each site its state', async () => {
    const r = await cli(['fleet', 'status', '-f', k('fleet.yaml'), '--depot', depot, '--history', k('history'), '--json'], { env: env(), now: NOW });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { apiVersion: string; kind: string; heads: { channel: string; root: string; sequence: number; releases: number }[]; counts: Record<string, number>; sites: JsonSite[] };
    expect(doc.apiVersion).toBe('airlock.dev/v1');
    expect(doc.kind).toBe('FleetStatus');
    expect(doc.heads).toEqual([{ channel: 'stable', root: root2, sequence: 2, releases: 2 }]);
    const s = bySite(doc);
    expect(Object.fromEntries(Object.entries(s).map(([n, v]) => [n, v.state]))).toEqual({
      'store-1': 'current',
      'store-2': 'behind',
      'store-3': 'never-reported',
      'store-4': 'stale',
      'store-5': 'untrusted',
      'store-6': 'degraded',
    });
    expect(doc.counts).toEqual({ current: 1, behind: 1, degraded: 1, stale: 1, 'never-reported': 1, untrusted: 1 });
    expect(s['store-1']?.wave).toBe('canary');
    expect(s['store-2']?.wave).toBe('rest');
    expect(s['store-2']?.rows[0]).toMatchObject({ cluster: 'pos', behind: 1, release: { root: root1, sequence: 1 } });
    expect(s['store-1']?.rows[0]).toMatchObject({ behind: 0, release: { root: root2, sequence: 2 } });
    expect(s['store-5']?.trust).toBe('untrusted');
    expect(s['store-5']?.rows[0]?.reason).toMatch(/not by a trusted appliance key/);
    expect(s['store-6']?.rows[0]).toMatchObject({ health: 'Degraded', reason: 'Deployment pos/web: 0 of 2 replicas available' });
    // What was read from the depot is kept for later soak times.
    expect((await stat(join(k('history'), 'store-1'))).isDirectory()).toBe(true);
  });

  it('groups by a label with the count of each state, in words', async () => {
    const r = await cli(['fleet', 'status', '-f', k('fleet.yaml'), '--depot', depot, '--history', k('history'), '--by', 'region'], { env: env(), now: NOW });
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('6 site(s): 1 current, 1 behind, 1 degraded, 1 stale, 1 never-reported, 1 untrusted');
    expect(lines.find((l) => l.startsWith('eu '))?.split(/\s+/)).toEqual(['eu', '3', '1', '1', '1', '0', '0', '0']);
    expect(lines.find((l) => l.startsWith('us '))?.split(/\s+/)).toEqual(['us', '3', '0', '0', '0', '1', '1', '1']);
    expect(r.stdout).toMatch(/store-5\s+-\s+untrusted/);
    const json = JSON.parse((await cli(['fleet', 'status', '-f', k('fleet.yaml'), '--depot', depot, '--history', k('history'), '--by', 'region', '--json'], { env: env(), now: NOW })).stdout) as { groups: { value: string; sites: number }[] };
    expect(json.groups.map((g) => [g.value, g.sites])).toEqual([['eu', 3], ['us', 3]]);
  });

  it('reads a folder of receipts from sticks the same way, the head from the bundles given', async () => {
    const r = await cli(['fleet', 'status', '-f', k('fleet.yaml'), '--receipts', k('sticks'), '--head', r1, '--head', r2, '--json'], { env: env(), now: NOW });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = bySite(JSON.parse(r.stdout) as { sites: JsonSite[] });
    expect(Object.values(s).map((v) => v.state)).toEqual(['current', 'behind', 'never-reported', 'stale', 'untrusted', 'degraded']);
    expect(s['store-2']?.rows[0]?.behind).toBe(1);
  });

  it('writes per site the delta it needs, which bundle verify accepts against that site\'s receipt', async () => {
    const out = k('deltas');
    const r = await cli(['fleet', 'status', '-f', k('fleet.yaml'), '--receipts', k('sticks'), '--head', r2, '--write-deltas', out, '--bundle', r2, '--key', k('release.key'), '--json'], { env: env(), now: NOW });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const deltas = (JSON.parse(r.stdout) as { deltas: { site: string; leftOut: number }[] }).deltas;
    // Sites that never reported (store-3) or whose receipt does not verify (store-5) get none.
    expect(deltas.map((d) => d.site)).toEqual(['store-1', 'store-2', 'store-4', 'store-6']);
    expect(deltas.find((d) => d.site === 'store-2')?.leftOut).toBeGreaterThan(0);
    expect((await stat(join(out, 'store-2.airlock'))).size).toBeLessThan((await stat(r2)).size);
    const v = await cli(['bundle', 'verify', join(out, 'store-2.airlock'), '--trust', k('root.json'), '--base', k('sticks/usb-1/receipt-store-2.json'), '--appliance-key', k('store-2.pub'), '--json']);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ verified: true, delta: { baseSite: keys['store-2']?.keyid } });
    expect(await readFile(join(out, 'store-1.airlock')).then((b) => b.length)).toBeGreaterThan(0);
  });

  it('refuses a missing source and a bad --by clearly', async () => {
    const r = await cli(['fleet', 'status', '-f', k('fleet.yaml')], { env: env(), now: NOW });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--depot oci:\/\/HOST\/REPO, --receipts DIR, or depot: in/);
    const b = await cli(['fleet', 'status', '-f', k('fleet.yaml'), '--receipts', k('sticks'), '--by', 'not ok!']);
    expect(b.code).toBe(2);
  });
});
