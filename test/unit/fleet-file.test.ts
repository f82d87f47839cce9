/** The fleet file: a good one parses (sites or sitesDir, waves with gates, stale, depot); bad ones fail naming file:line. */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateKey, publicPart } from '../../keys/key-file.js';
import { parseFleetFile } from '../../src/fleet/fleet-file.js';
import { loadFleet } from '../../src/fleet/load.js';

const INLINE = publicPart(generateKey()).public;

const GOOD = `apiVersion: airlock.dev/v1
kind: Fleet
depot: oci://127.0.0.1:5000/stores
stale: 12h
sites:
  - name: store-1
    labels: {ring: canary, region: eu}
    key: keys/store-1.pub
  - name: store-2
    labels: {region: us}
    key: ${INLINE}
waves:
  - name: canary
    selector: {matchLabels: {ring: canary}}
    gate: {healthy: 95%, soak: 30m}
  - name: rest
    selector: {}
`;

function problem(text: string): string {
  try {
    parseFleetFile(text, '/hq/fleet.yaml');
  } catch (err) {
    expect((err as { code?: string }).code).toBe('FLEET_INVALID');
    return (err as Error).message;
  }
  throw new Error('the fleet file was accepted');
}

describe('fleet file', () => {
  it('parses sites, keys (path or inline), waves in order with gates, stale and depot', () => {
    const f = parseFleetFile(GOOD, '/hq/fleet.yaml');
    expect(f.depot).toBe('oci://127.0.0.1:5000/stores');
    expect(f.staleMs).toBe(12 * 3600_000);
    expect(f.sites.map((s) => s.name)).toEqual(['store-1', 'store-2']);
    expect(f.sites[0]?.key).toEqual({ path: '/hq/keys/store-1.pub' });
    expect(f.sites[1]?.key).toEqual({ inline: INLINE });
    expect(f.sites[0]?.labels).toEqual({ ring: 'canary', region: 'eu' });
    expect(f.waves.map((w) => w.name)).toEqual(['canary', 'rest']);
    expect(f.waves[0]?.gate).toEqual({ healthy: 0.95, soakMs: 30 * 60_000 });
    expect(f.waves[1]?.gate).toEqual({ healthy: 1, soakMs: 0 });
    expect(f.waves[0]?.selector).toEqual({ matchLabels: { ring: 'canary' } });
  });

  it('defaults stale to 24h', () => {
    expect(parseFleetFile(GOOD.replace('stale: 12h\n', ''), '/hq/fleet.yaml').staleMs).toBe(24 * 3600_000);
  });

  it('names file and line of each mistake', () => {
    expect(problem(GOOD.replace('kind: Fleet', 'kind: Site'))).toMatch(/\/hq\/fleet\.yaml:2: kind must be Fleet/);
    expect(problem(GOOD.replace('stale: 12h', 'stale: soon'))).toMatch(/fleet\.yaml:4: stale "soon" is not a duration/);
    expect(problem(GOOD.replace('name: store-2', 'name: store-1'))).toMatch(/fleet\.yaml:9: site "store-1" is listed twice \(also at \/hq\/fleet\.yaml:6\)/);
    expect(problem(GOOD.replace('name: store-2', 'name: Store_2'))).toMatch(/fleet\.yaml:9: sites\[1\]\.name: name "Store_2" must be a DNS label/);
    expect(problem(GOOD.replace('{ring: canary, region: eu}', '{ring: "not ok!"}'))).toMatch(/fleet\.yaml:7: .*label value "not ok!"/);
    expect(problem(GOOD.replace('healthy: 95%', 'healthy: 120%'))).toMatch(/fleet\.yaml:15: waves\[0\]\.gate\.healthy "120%" must be a share/);
    expect(problem(GOOD.replace('soak: 30m', 'soak: half an hour'))).toMatch(/fleet\.yaml:15: waves\[0\]\.gate\.soak "half an hour" is not a duration/);
    expect(problem(GOOD.replace('{matchLabels: {ring: canary}}', '{matchExpressions: [{key: ring, operator: Like}]}'))).toMatch(/fleet\.yaml:14: waves\[0\]\.selector\.matchExpressions\[0\]: operator "Like" does not exist/);
    expect(problem(GOOD.replace('    key: keys/store-1.pub\n', ''))).toMatch(/fleet\.yaml:6: sites\[0\] \(store-1\): key is required/);
    expect(problem(GOOD.replace(/waves:[\s\S]*$/, ''))).toMatch(/waves must list at least one wave/);
    expect(problem(GOOD.replace('depot: oci://127.0.0.1:5000/stores', 'depot: https://x/y'))).toMatch(/fleet\.yaml:3: depot "https:\/\/x\/y" must be an oci:\/\/HOST\/REPO URL/);
    expect(problem(GOOD.replace('stale: 12h', 'stale: 12h\ncolour: blue'))).toMatch(/fleet\.yaml:5: the fleet file: unknown field "colour"/);
    expect(problem(`${GOOD}sitesDir: sites\n`)).toMatch(/give either sites or sitesDir, not both/);
    expect(problem('kind: Fleet\nsites: [\n')).toMatch(/fleet\.yaml:\d+: invalid YAML/);
  });

  it('loads key files and a directory of site files with NAME.pub keys; a missing key names the site', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleet-file-'));
    const key = publicPart(generateKey());
    await writeFile(join(dir, 'store-1.pub'), JSON.stringify(key));
    await writeFile(join(dir, 'fleet.yaml'), GOOD.replace('keys/store-1.pub', 'store-1.pub'));
    const fleet = await loadFleet(join(dir, 'fleet.yaml'));
    expect(fleet.sites.map((s) => s.key.keyid)).toEqual([key.keyid, expect.stringMatching(/^[a-f0-9]{64}$/)]);

    const sites = join(dir, 'sites');
    await mkdir(sites);
    await writeFile(join(sites, 'a.yaml'), 'apiVersion: airlock.dev/v1\nkind: Site\nmetadata: {name: store-9, labels: {region: eu}}\nclusters:\n  - {name: pos, kubeconfig: pos.kubeconfig}\n');
    await writeFile(join(dir, 'dir.yaml'), 'kind: Fleet\nsitesDir: sites\nwaves:\n  - {name: all, selector: {}}\n');
    await expect(loadFleet(join(dir, 'dir.yaml'))).rejects.toThrow(/sites\/a\.yaml \(site store-9\): its appliance key .*store-9\.pub/);
    await writeFile(join(sites, 'store-9.pub'), JSON.stringify(key));
    const fromDir = await loadFleet(join(dir, 'dir.yaml'));
    expect(fromDir.sites).toEqual([expect.objectContaining({ name: 'store-9', labels: { region: 'eu' }, clusters: ['pos'] })]);
  });
});
