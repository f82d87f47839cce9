/**
 * The fleet file's fast path for one-line site entries: it reads what the YAML library reads (same values, same
 * lines in every problem), and leaves to the library whatever it could read differently.
 */
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { generateKey, publicPart } from '../../keys/key-file.js';
import { parseFleetFile } from '../../src/fleet/fleet-file.js';
import { fastSites } from '../../src/fleet/fleet-sites-fast.js';

const K1 = publicPart(generateKey()).public;
const K2 = publicPart(generateKey()).public;
const WAVES = 'waves:\n  - {name: all, selector: {}}\n';
const fleet = (sites: string) => `kind: Fleet\nstale: 2h\nsites:\n${sites}${WAVES}`;

/** The same file with each one-line entry in block style: the YAML library reads it, same values, other lines. */
const asBlock = (text: string) => text.replace(/^( *)- \{name: ([^,]+), labels: (\{[^}]*\}), key: ([^}]+)\}$/gm, '$1- name: $2\n$1  labels: $3\n$1  key: $4');

describe('fleet file fast path', () => {
  it('reads one-line entries as the YAML library does, each at its own line', () => {
    const text = fleet(`  - {name: store-1, labels: {ring: canary, region: eu}, key: ${K1}}\n  - {name: store-2, labels: {}, key: keys/store-2.pub}\n`);
    const fast = fastSites(text);
    expect(fast?.items).toHaveLength(2);
    expect(fast?.items.map((i) => i.toJSON())).toEqual(parseDocument(text).toJSON().sites);
    const parsed = parseFleetFile(text, '/f/fleet.yaml');
    expect(parsed.sites.map((s) => s.origin)).toEqual(['/f/fleet.yaml:4', '/f/fleet.yaml:5']);
    const { sites, ...rest } = parseFleetFile(asBlock(text), '/f/fleet.yaml');
    expect(parsed.sites.map(({ origin: _, ...s }) => s)).toEqual(sites.map(({ origin: _, ...s }) => s));
    expect(parsed.staleMs).toBe(rest.staleMs);
    expect(parsed.waves.map((w) => w.origin)).toEqual(['/f/fleet.yaml:7']);
  });

  it('names the line of each problem in a fast-read entry', () => {
    const text = fleet(`  - {name: store-1, labels: {}, key: ${K1}}\n  - {name: Bad_Name, labels: {Bad/x/y: v}, key: ${K2}}\n  - {name: store-1, labels: {}, key: ${K2}}\n`);
    expect(fastSites(text)).toBeDefined();
    const message = (() => {
      try {
        parseFleetFile(text, 'fleet.yaml');
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(message).toContain('fleet.yaml:5: sites[1].name: name "Bad_Name"');
    expect(message).toContain('fleet.yaml:5: sites[1].labels:');
    expect(message).toContain('fleet.yaml:6: site "store-1" is listed twice (also at fleet.yaml:4)');
  });

  it('leaves to the YAML library what it could read otherwise', () => {
    // true/null/numbers are not strings in YAML; a repeated label key is a YAML error; a comment inside the list,
    // an entry in block style, a site list that does not end with the next top-level field.
    for (const sites of [
      `  - {name: a, labels: {ring: true}, key: ${K1}}\n`,
      `  - {name: a, labels: {zone: 3}, key: ${K1}}\n`,
      `  - {name: null, labels: {}, key: ${K1}}\n`,
      `  - {name: a, labels: {ring: x, ring: y}, key: ${K1}}\n`,
      `  - {name: a, labels: {}, key: ${K1}}\n# eu\n  - {name: b, labels: {}, key: ${K2}}\n`,
      `  - {name: a, labels: {}, key: ${K1}}\n  - name: b\n    key: ${K2}\n`,
    ]) {
      expect(fastSites(fleet(sites))).toBeUndefined();
    }
    expect(parseFleetFile(fleet(`  - {name: a, labels: {ring: true, zone: 3}, key: ${K1}}\n`), 'f.yaml').sites[0]?.labels).toEqual({ ring: 'true', zone: '3' });
    expect(() => parseFleetFile(fleet(`  - {name: a, labels: {ring: x, ring: y}, key: ${K1}}\n`), 'f.yaml')).toThrow(/f\.yaml:4: invalid YAML: Map keys must be unique/);
  });
});
