/**
 * Split parts (`--split-size`): a bundle cut into `NAME.000`, `NAME.001`, … and an index, `NAME.parts.json`, a
 * DSSE envelope over each part's name, size and sha256, signed by the same release keys as the bundle. Each part
 * can be checked on its own, so a bad stick is named before anything is joined.
 */
export const PARTS_PAYLOAD_TYPE = 'application/vnd.airlock.parts.v1+json';
export const PARTS_INDEX_SUFFIX = '.parts.json';

export interface PartEntry {
  name: string;
  size: number;
  /** Hex sha256 of the part's bytes. */
  sha256: string;
}

export interface PartsIndex {
  type: 'airlock-parts';
  /** File name of the whole bundle the parts join into. */
  bundle: string;
  /** The bundle's root digest (as its statement names it). */
  root: string;
  /** Sum of the parts' sizes. */
  size: number;
  parts: PartEntry[];
}

/** `NAME.000`, `NAME.001`, …; at least three digits, more when there are more than 1000 parts. */
export function partName(bundle: string, index: number, count: number): string {
  const width = Math.max(3, String(count - 1).length);
  return `${bundle}.${String(index).padStart(width, '0')}`;
}

export function partsIndexName(bundle: string): string {
  return `${bundle}${PARTS_INDEX_SUFFIX}`;
}

/** What is wrong with an index's shape, if anything (the signature is checked elsewhere). */
export function partsIndexProblem(index: PartsIndex): string | undefined {
  if (index?.type !== 'airlock-parts') return 'not an airlock parts index';
  if (typeof index.bundle !== 'string' || !index.bundle || index.bundle.includes('/')) return 'the index names no bundle file';
  if (!Array.isArray(index.parts) || index.parts.length === 0) return 'the index lists no parts';
  const names = new Set<string>();
  let total = 0;
  for (const p of index.parts) {
    if (typeof p?.name !== 'string' || !p.name || p.name.includes('/') || p.name.startsWith('.')) return `a part has an unsafe name ${JSON.stringify(p?.name)}`;
    if (names.has(p.name)) return `part ${p.name} is listed twice`;
    names.add(p.name);
    if (!Number.isSafeInteger(p.size) || p.size < 0) return `part ${p.name} has an invalid size`;
    if (typeof p.sha256 !== 'string' || !/^[a-f0-9]{64}$/.test(p.sha256)) return `part ${p.name} has an invalid sha256`;
    total += p.size;
  }
  if (total !== index.size) return `the parts add up to ${total} bytes, the index says ${index.size}`;
  return undefined;
}
