/**
 * The depot layout (ADR 016): a bundle pushed to an OCI registry. Every blob and manifest of the bundle goes in
 * as is; the DSSE envelope goes in as an artifact manifest whose `subject` is the bundle's root, with a small
 * layout blob as its config that lets `bundle pull` rebuild the exact archive; the channel tag names the root.
 */
import { createHash } from 'node:crypto';
import { type Descriptor, MediaType } from '../descriptor.js';
import { AirlockError } from '../errors.js';

export const SIGNATURE_ARTIFACT_TYPE = 'application/vnd.airlock.signature.v1+json';
export const DEPOT_LAYOUT_MEDIA_TYPE = 'application/vnd.airlock.depot.layout.v1+json';
export const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const ANNOTATION_CHANNEL = 'dev.airlock.channel';
export const ANNOTATION_SEQUENCE = 'dev.airlock.sequence';

/** What the registry's content alone does not say about the archive, carried as the signature artifact's config. */
export interface DepotLayout {
  type: 'airlock-depot-layout';
  /** Bundle format version of the archive. */
  format: 1;
  /** Size and sha256 (hex) of the archive: pull checks the file it rebuilt against them before moving it into place. */
  size: number;
  sha256: string;
  /** Large blobs the signed root lists that the archive does not carry (a delta's base holds them). */
  leftOut: string[];
}

export interface DepotRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** `oci://HOST/REPO[:TAG|@sha256:…]`. */
export function parseDepotRef(text: string): DepotRef {
  const bad = (why: string) => new AirlockError('REFERENCE_INVALID', `${text}: ${why}; give oci://HOST/REPO (e.g. oci://registry.example.com/fleet/releases)`);
  if (!text.startsWith('oci://')) throw bad('a depot is named by an oci:// URL');
  let rest = text.slice('oci://'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) throw bad('no repository after the host');
  const registry = rest.slice(0, slash);
  rest = rest.slice(slash + 1);
  let digest: string | undefined;
  let tag: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw bad(`"${digest}" is not a sha256 digest`);
  }
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag)) throw bad(`"${tag}" is not a valid tag`);
  }
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(rest)) throw bad(`"${rest}" is not a valid repository name`);
  return { registry, repository: rest, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function descriptorOf(bytes: Buffer, mediaType: string): Descriptor {
  return { mediaType, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length };
}

/** The tag of the OCI referrers tag schema for registries without the referrers API: `sha256-<hex>`. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-').slice(0, 128);
}

/** The signature artifact: the envelope as its one layer, the layout as its config, the root as its subject. */
export function signatureManifest(root: Descriptor, envelope: Descriptor, layout: Descriptor, channel: string, sequence: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: SIGNATURE_ARTIFACT_TYPE,
      config: layout,
      layers: [envelope],
      subject: { mediaType: root.mediaType, digest: root.digest, size: root.size },
      annotations: { [ANNOTATION_CHANNEL]: channel, [ANNOTATION_SEQUENCE]: String(sequence) },
    }),
  );
}
