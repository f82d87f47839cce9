/**
 * Trust-root rotation as it travels in a bundle, and the trust root's lifecycle. A statement may carry the next
 * trust root (`trustRoot`: the DSSE envelope text of `root.json`, covered by the statement's signature). It is
 * taken only under the rotation rule: version exactly one newer than the root in force, signed by a threshold of
 * the old root keys and a threshold of its own. The statement is then checked under that next root. Pure functions.
 */
import type { DsseEnvelope } from './dsse.js';
import { type Verdict, isExpired } from './policy.js';
import { type TrustRoot, verifyRootRotation, verifyTrustRootSignatures } from './trust-root.js';

/** The trust root a bundle carries, once it has passed the rotation rule. */
export interface CarriedRoot {
  root: TrustRoot;
  /** The envelope text, exactly as signed: what the appliance persists. */
  text: string;
}

export interface TrustForStatement {
  /** The root to check the statement under: the one in force, or the carried next one. */
  trust: TrustRoot;
  /** Set when the statement carries the next root and it passed the rotation rule. */
  next?: CarriedRoot;
}

/**
 * The trust root a statement is checked under. Without `trustRoot` in the payload, or with one no newer than the
 * root in force (a re-import of the bundle that rotated, or an older bundle), that is the root in force. With the
 * next version, it must pass the rotation rule (else the bundle is refused: a forged rotation changes nothing).
 * A version further ahead is refused: roots are taken one version at a time.
 */
export function trustForStatement(current: TrustRoot, envelope: DsseEnvelope, now: Date): Verdict<TrustForStatement> {
  let carried: unknown;
  try {
    carried = (JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { trustRoot?: unknown } | null)?.trustRoot;
  } catch {
    return { ok: true, signers: [], value: { trust: current } }; // the statement check reports the malformed payload
  }
  if (carried === undefined) return { ok: true, signers: [], value: { trust: current } };
  const label = 'the trust root this bundle carries';
  if (typeof carried !== 'string') return fail('TRUST_ROOT_INVALID', `${label} is not a signed root.json envelope`);
  const parsed = verifyTrustRootSignatures(carried, label);
  if (!parsed.ok || !parsed.value) return { ok: false, signers: [], ...(parsed.error ? { error: parsed.error } : {}) };
  if (parsed.value.version <= current.version) return { ok: true, signers: [], value: { trust: current } };
  if (parsed.value.version > current.version + 1) {
    return fail('TRUST_ROOT_INVALID', `${label} has version ${parsed.value.version}; this appliance holds version ${current.version}, so only version ${current.version + 1} can follow: import the bundle that carries version ${current.version + 1} first`);
  }
  const rotation = verifyRootRotation(current, carried, now, { label });
  if (!rotation.ok || !rotation.value) return { ok: false, signers: rotation.signers, ...(rotation.error ? { error: rotation.error } : {}) };
  return { ok: true, signers: rotation.signers, value: { trust: rotation.value, next: { root: rotation.value, text: carried.trim() } } };
}

/**
 * Walks from a trust root to the newest of `accepted` (root.json texts accepted earlier by rotation, any order)
 * that chains to it one version at a time under the rotation rule. Roots no newer than `start` are ignored (an
 * operator may start with a newer root by hand). Intermediate roots may have expired since; the result may too
 * (the caller reports it). A link that fails the rule is an error: the data directory was altered.
 */
export function walkRootChain(start: TrustRoot, accepted: { text: string; label: string }[], now: Date): Verdict<TrustRoot> {
  const byVersion = new Map<number, { text: string; label: string; root: TrustRoot }>();
  for (const item of accepted) {
    const parsed = verifyTrustRootSignatures(item.text, item.label);
    if (!parsed.ok || !parsed.value) return { ok: false, signers: [], ...(parsed.error ? { error: parsed.error } : {}) };
    if (parsed.value.version > start.version) byVersion.set(parsed.value.version, { ...item, root: parsed.value });
  }
  let current = start;
  for (;;) {
    const next = byVersion.get(current.version + 1);
    if (!next) break;
    const verdict = verifyRootRotation(current, next.text, now, { allowExpired: true, label: next.label });
    if (!verdict.ok || !verdict.value) return { ok: false, signers: [], ...(verdict.error ? { error: verdict.error } : {}) };
    current = verdict.value;
    byVersion.delete(current.version);
  }
  if (byVersion.size) {
    const stray = [...byVersion.values()].map((v) => v.label).join(', ');
    return fail('TRUST_ROOT_INVALID', `${stray}: no chain of rotations leads there from trust root version ${current.version}`);
  }
  return { ok: true, signers: [], value: current };
}

export type TrustState = 'ok' | 'expiring' | 'expired';

export interface TrustLifecycle {
  version: number;
  expires: string;
  /** Days until expiry, rounded up (negative once past it, rounded down). */
  daysLeft: number;
  state: TrustState;
  warnings: string[];
}

/** How long before expiry the appliance starts warning. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

/** Where a trust root stands on its lifecycle: ok, expiring (within 30 days) or expired, with what to do. */
export function trustLifecycle(root: TrustRoot, now: Date): TrustLifecycle {
  const msLeft = Date.parse(root.expires) - now.getTime();
  const daysLeft = msLeft >= 0 ? Math.ceil(msLeft / DAY_MS) : Math.floor(msLeft / DAY_MS);
  const next = `bring a bundle that carries trust root version ${root.version + 1} (spec field trustRoot), signed under the rotation rule`;
  if (isExpired(root.expires, now)) {
    return {
      version: root.version,
      expires: root.expires,
      daysLeft,
      state: 'expired',
      warnings: [`the trust root (version ${root.version}) expired at ${root.expires}: this appliance keeps serving what it holds but refuses new bundles (TRUST_ROOT_EXPIRED); ${next}`],
    };
  }
  if (msLeft <= EXPIRY_WARNING_DAYS * DAY_MS) {
    return {
      version: root.version,
      expires: root.expires,
      daysLeft,
      state: 'expiring',
      warnings: [`the trust root (version ${root.version}) expires at ${root.expires}, in ${daysLeft} day(s); after that no new bundle is accepted: ${next}`],
    };
  }
  return { version: root.version, expires: root.expires, daysLeft, state: 'ok', warnings: [] };
}

function fail<T>(code: 'TRUST_ROOT_INVALID', message: string): Verdict<T> {
  return { ok: false, signers: [], error: { code, message } };
}
