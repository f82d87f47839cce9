/**
 * The release plan of a channel (issue 15, docs/adr/016-depot-layout.md): which root each wave of the fleet may
 * take, signed by the trust root's release keys like a bundle, and kept in the depot beside the bundles. Once a
 * channel has a plan, appliances follow the plan (the first wave whose selector matches their site's labels), not
 * the channel tag; a site in no wave takes nothing. `serial` only grows: an appliance refuses a plan older than
 * one it accepted, so a depot cannot hand out a stale plan to hold a wave back or push it to an older root.
 *
 * In the registry: the tag `CHANNEL.plan` of the depot repository names an OCI image manifest whose
 * `artifactType` is the plan's payload type, with the empty config and one layer, the DSSE envelope.
 */
import { Readable } from 'node:stream';
import { parseEnvelope, serializeEnvelope, signEnvelope } from '../../keys/dsse.js';
import type { SecretKey } from '../../keys/key-file.js';
import { evaluateSignatures } from '../../keys/policy.js';
import type { TrustRoot } from '../../keys/trust-root.js';
import { MediaType } from '../descriptor.js';
import { AirlockError, isAirlockError } from '../errors.js';
import type { RegistryRepository } from '../registry/repository.js';
import { matchesSelector, selectorProblems } from '../render/selector.js';
import type { LabelSelector } from '../render/types.js';
import { DSSE_MEDIA_TYPE, descriptorOf } from './layout.js';

export const PLAN_PAYLOAD_TYPE = 'application/vnd.airlock.release-plan.v1+json';
/** A plan is a few waves: anything larger than this is not one. */
const MAX_PLAN_BYTES = 1024 * 1024;
const EMPTY_CONFIG = Buffer.from('{}');

export interface PlanWave {
  name: string;
  selector: LabelSelector;
  /** The bundle root this wave may take; null: none yet. */
  root: string | null;
  /** That bundle's sequence (null with a null root). */
  sequence: number | null;
}

export interface ReleasePlan {
  type: 'airlock-release-plan';
  channel: string;
  /** When it was written (ISO 8601). */
  created: string;
  /** Grows by one with every plan of the channel. */
  serial: number;
  waves: PlanWave[];
}

/** The tag that names a channel's plan. */
export function planTag(channel: string): string {
  return `${channel}.plan`;
}

export function signPlan(plan: ReleasePlan, keys: SecretKey[]): string {
  const problem = planProblem(plan);
  if (problem) throw new AirlockError('PLAN_INVALID', `the release plan is not valid: ${problem}`);
  return `${serializeEnvelope(signEnvelope(PLAN_PAYLOAD_TYPE, Buffer.from(JSON.stringify(plan)), keys))}\n`;
}

/** Checks the plan's signatures against the release role of `trust` (its threshold, as for bundles) and its shape. */
export function verifyPlan(text: string, trust: TrustRoot, label: string): ReleasePlan {
  const envelope = parseEnvelope(text.trim(), label);
  const verdict = evaluateSignatures({ envelope, payloadType: PLAN_PAYLOAD_TYPE, keys: trust.keys, role: trust.roles.release, roleName: 'release' });
  if (!verdict.ok || !verdict.value) {
    throw new AirlockError(verdict.error?.code ?? 'SIGNATURE_INVALID', `${label}: release plan rejected: ${verdict.error?.message ?? 'no valid signature'}`);
  }
  let plan: ReleasePlan;
  try {
    plan = JSON.parse(verdict.value.toString('utf8')) as ReleasePlan;
  } catch (err) {
    throw new AirlockError('PLAN_INVALID', `${label}: the release plan's payload is not JSON`, { cause: err });
  }
  const problem = planProblem(plan);
  if (problem) throw new AirlockError('PLAN_INVALID', `${label}: ${problem}`);
  return plan;
}

/** The wave a site with these labels belongs to (the first whose selector matches) and the root it may take. */
export function targetFor(plan: ReleasePlan, labels: Record<string, string>): { wave: string; root: string; sequence: number } | null {
  const wave = plan.waves.find((w) => matchesSelector(w.selector, labels));
  if (!wave || wave.root === null || wave.sequence === null) return null;
  return { wave: wave.name, root: wave.root, sequence: wave.sequence };
}

/** The envelope text of the channel's plan, or undefined when the channel has none. */
export async function readPlan(repo: RegistryRepository, channel: string): Promise<string | undefined> {
  let manifest: { artifactType?: string; layers?: { mediaType?: string; digest?: string; size?: number }[] };
  try {
    const { bytes } = await repo.getManifest(planTag(channel));
    manifest = JSON.parse(bytes.toString('utf8')) as typeof manifest;
  } catch (err) {
    if (isAirlockError(err, 'MANIFEST_UNKNOWN')) return undefined;
    throw err;
  }
  const layer = manifest.layers?.[0];
  if (manifest.artifactType !== PLAN_PAYLOAD_TYPE || !layer?.digest || layer.mediaType !== DSSE_MEDIA_TYPE || typeof layer.size !== 'number') {
    throw new AirlockError('PLAN_INVALID', `${planTag(channel)} in the depot is not an airlock release plan`);
  }
  if (layer.size > MAX_PLAN_BYTES) throw new AirlockError('PLAN_INVALID', `${planTag(channel)}: a release plan of ${layer.size} bytes is larger than any plan airlock writes`);
  return (await readAll(await repo.fetch({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }), layer.size)).toString('utf8');
}

/** Stores the envelope and moves the channel's plan tag to it (the blobs first, the tag last). */
export async function writePlan(repo: RegistryRepository, channel: string, envelope: string): Promise<void> {
  const bytes = Buffer.from(envelope);
  const layer = descriptorOf(bytes, DSSE_MEDIA_TYPE);
  const config = descriptorOf(EMPTY_CONFIG, MediaType.ociEmpty);
  if (!(await repo.exists(config))) await repo.push(config, Readable.from([EMPTY_CONFIG]));
  if (!(await repo.exists(layer))) await repo.push(layer, Readable.from([bytes]));
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: PLAN_PAYLOAD_TYPE, config, layers: [layer] }),
  );
  await repo.putManifest(descriptorOf(manifest, MediaType.ociManifest), manifest, planTag(channel));
}

function planProblem(p: ReleasePlan): string | undefined {
  if (p?.type !== 'airlock-release-plan') return 'not an airlock release plan';
  if (typeof p.channel !== 'string' || !p.channel) return 'the plan names no channel';
  if (!Number.isInteger(p.serial) || p.serial < 1) return 'the plan\'s serial must be a whole number of at least 1';
  if (typeof p.created !== 'string' || Number.isNaN(Date.parse(p.created))) return 'the plan has no valid creation time';
  if (!Array.isArray(p.waves) || p.waves.length === 0) return 'the plan lists no wave';
  const names = new Set<string>();
  for (const [i, w] of p.waves.entries()) {
    const where = `wave ${i + 1}${typeof w?.name === 'string' ? ` (${w.name})` : ''}`;
    if (typeof w?.name !== 'string' || !w.name) return `${where} has no name`;
    if (names.has(w.name)) return `${where}: the name is used twice`;
    names.add(w.name);
    const selector = selectorProblems(w.selector, `${where}: selector`);
    if (selector.length) return selector.join('; ');
    if (w.root === null ? w.sequence !== null : !(typeof w.root === 'string' && /^sha256:[a-f0-9]{64}$/.test(w.root) && Number.isInteger(w.sequence))) {
      return `${where}: root and sequence must both be set (a sha256 digest and a whole number) or both be null`;
    }
  }
  return undefined;
}

async function readAll(stream: Readable, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const chunk of stream) {
    got += (chunk as Buffer).length;
    if (got > size) {
      stream.destroy();
      throw new AirlockError('SIZE_MISMATCH', `the release plan is larger than its descriptor says (${size} bytes)`);
    }
    chunks.push(chunk as Buffer);
  }
  if (got !== size) throw new AirlockError('SIZE_MISMATCH', `the release plan is ${got} bytes, its descriptor says ${size}`);
  return Buffer.concat(chunks);
}
