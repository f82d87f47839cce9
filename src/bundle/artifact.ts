/** OCI artifact manifests (image-spec 1.1 `artifactType`) for the bundle's Git snapshots and manifest sets. */
import { type Descriptor, MediaType } from '../descriptor.js';
import { sha256Digest } from '../digest.js';

export interface BuiltBlob {
  desc: Descriptor;
  bytes: Buffer;
}

export function jsonBlob(mediaType: string, value: unknown): BuiltBlob {
  const bytes = Buffer.from(JSON.stringify(value));
  return { desc: { mediaType, digest: sha256Digest(bytes), size: bytes.length }, bytes };
}

export function artifactManifest(artifactType: string, config: Descriptor, layers: Descriptor[], annotations?: Record<string, string>): BuiltBlob {
  return jsonBlob(MediaType.ociManifest, {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers,
    ...(annotations ? { annotations } : {}),
  });
}
