/**
 * Site receipts: a signed account of what an appliance holds, written by the appliance with its own key and read
 * on the connected side, where it is the base of the next delta and the site's status report. A DSSE envelope
 * like every other signed document of airlock, with its own payload type, so no other signed text can pass for it.
 */
import { AirlockError } from '../src/errors.js';
import { parseEnvelope, serializeEnvelope, signEnvelope } from './dsse.js';
import type { PublicKey, SecretKey } from './key-file.js';
import { evaluateSignatures, short } from './policy.js';

export const RECEIPT_PAYLOAD_TYPE = 'application/vnd.airlock.receipt.v1+json';

/** How many drifted objects a placement of a receipt names at most (the count says how many there are). */
export const DRIFTED_NAMES = 20;

export interface ReceiptChannel {
  channel: string;
  name: string;
  sequence: number;
  root: string;
  appliedAt: string;
  sync: string;
  health: string;
}

/** One placement (a channel on one cluster) of the site, as the appliance last saw it. */
export interface ReceiptPlacement {
  cluster: string;
  channel: string;
  /** The root this placement last synced (empty before its first sync). */
  root: string;
  sync: string;
  health: string;
  drifted: number;
  /**
   * The drifted objects by name (`Deployment shop/web`, `Namespace shop`: kind, then namespace/name), sorted, at
   * most DRIFTED_NAMES of them; `drifted` is the full count. Absent in receipts of appliances before it.
   */
  driftedObjects?: string[];
  /** When the placement's state was last checked against its cluster (ISO 8601), null before the first check. */
  checkedAt: string | null;
  reason?: string;
}

export interface Receipt {
  type: 'airlock-receipt';
  created: string;
  /** Key id of the appliance that signed it. */
  appliance: string;
  /** The site's name (its site file's `metadata.name`), where the appliance runs with a site file. */
  site?: string;
  /** The site's labels from its site file. */
  labels?: Record<string, string>;
  channels: ReceiptChannel[];
  /** Per cluster and channel sync, health and drift, where the appliance reconciles clusters. */
  placements?: ReceiptPlacement[];
  /** Every blob digest the site holds, sorted. */
  blobs: string[];
  /** Every commit held per Git mirror, sorted. */
  git: { name: string; commits: string[] }[];
}

export function signReceipt(receipt: Receipt, key: SecretKey): string {
  return `${serializeEnvelope(signEnvelope(RECEIPT_PAYLOAD_TYPE, Buffer.from(JSON.stringify(receipt)), [key]))}\n`;
}

/**
 * Checks a receipt's signature against the appliance keys the caller trusts and returns its content. `label`
 * names the file in every error.
 */
export function verifyReceipt(text: string, trusted: PublicKey[], label: string): { receipt: Receipt; signer: string } {
  const envelope = parseEnvelope(text.trim(), label);
  const keys = Object.fromEntries(trusted.map((k) => [k.keyid, { keytype: k.keytype, public: k.public, ...(k.name ? { name: k.name } : {}) }]));
  const verdict = evaluateSignatures({
    envelope,
    payloadType: RECEIPT_PAYLOAD_TYPE,
    keys,
    role: { keyids: Object.keys(keys), threshold: 1 },
    roleName: 'appliance',
  });
  if (!verdict.ok || !verdict.value) {
    const claimed = envelope.signatures.map((s) => short(s.keyid)).join(', ') || 'nobody';
    const known = envelope.signatures.some((s) => keys[s.keyid]);
    const why = known ? 'its signature does not verify (tampered?)' : `it is signed by ${claimed}, not by a trusted appliance key (${trusted.map((k) => short(k.keyid)).join(', ') || 'none given'})`;
    throw new AirlockError('SIGNATURE_INVALID', `${label}: receipt rejected: ${why}`);
  }
  let receipt: Receipt;
  try {
    receipt = JSON.parse(verdict.value.toString('utf8')) as Receipt;
  } catch (err) {
    throw new AirlockError('SIGNATURE_INVALID', `${label}: the receipt's payload is not JSON`, { cause: err });
  }
  const problem = shapeProblem(receipt);
  if (problem) throw new AirlockError('SIGNATURE_INVALID', `${label}: ${problem}`);
  return { receipt, signer: verdict.signers[0] ?? '' };
}

function shapeProblem(r: Receipt): string | undefined {
  if (r?.type !== 'airlock-receipt') return 'not an airlock receipt';
  if (!Array.isArray(r.channels) || !Array.isArray(r.blobs) || !Array.isArray(r.git)) return 'the receipt lacks channels, blobs or git';
  if (r.site !== undefined && typeof r.site !== 'string') return 'the receipt names its site with something other than a string';
  if (r.placements !== undefined && !(Array.isArray(r.placements) && r.placements.every((p) => typeof p?.cluster === 'string' && typeof p.channel === 'string' && typeof p.drifted === 'number'))) {
    return 'the receipt lists a malformed placement';
  }
  if (r.placements?.some((p) => p.driftedObjects !== undefined && !(Array.isArray(p.driftedObjects) && p.driftedObjects.length <= DRIFTED_NAMES && p.driftedObjects.every((o) => typeof o === 'string')))) {
    return `the receipt names a placement's drifted objects with something other than a list of at most ${DRIFTED_NAMES} strings`;
  }
  if (!r.blobs.every((d) => typeof d === 'string' && /^sha256:[a-f0-9]{64}$/.test(d))) return 'the receipt lists a malformed blob digest';
  if (!r.git.every((g) => typeof g?.name === 'string' && Array.isArray(g.commits) && g.commits.every((c) => typeof c === 'string' && /^[a-f0-9]{40}$/.test(c)))) {
    return 'the receipt lists a malformed git commit';
  }
  return undefined;
}
