/**
 * Referrers of a manifest (OCI distribution 1.1): the `/v2/NAME/referrers/DIGEST` API where the registry has it,
 * else the referrers tag schema (an image index tagged `sha256-<hex>` listing every referrer), which clients keep
 * up to date themselves. docker-registry 2.8 has no referrers API, so there the tag is the record.
 */
import { type Descriptor, MediaType } from '../descriptor.js';
import { isAirlockError } from '../errors.js';
import { parseJson } from '../graph.js';
import type { OciIndex } from '../oci-layout.js';
import type { RegistryRepository } from '../registry/repository.js';
import { descriptorOf, referrersTag } from './layout.js';

/** The referrers the API reports, or undefined when the registry has no referrers API (404, 405, not an index). */
async function referrersApi(repo: RegistryRepository, subject: string): Promise<Descriptor[] | undefined> {
  const res = await repo.client.request('GET', `/v2/${repo.name}/referrers/${subject}`, {
    scopes: [`repository:${repo.name}:pull`],
    what: `${repo.client.registry}/${repo.name} referrers of ${subject}`,
    headers: { accept: MediaType.ociIndex },
    accept: [400, 404, 405],
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    return undefined;
  }
  const type = (res.headers.get('content-type') ?? '').split(';')[0]?.trim();
  const bytes = Buffer.from(await res.arrayBuffer());
  if (type !== MediaType.ociIndex) return undefined;
  const index = parseJson<OciIndex>(bytes, `the referrers of ${subject}`);
  return Array.isArray(index.manifests) ? index.manifests : undefined;
}

async function referrersIndex(repo: RegistryRepository, subject: string): Promise<OciIndex> {
  try {
    const { bytes } = await repo.getManifest(referrersTag(subject));
    return parseJson<OciIndex>(bytes, `${repo.name}:${referrersTag(subject)}`);
  } catch (err) {
    if (isAirlockError(err, 'MANIFEST_UNKNOWN')) return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] } as OciIndex;
    throw err;
  }
}

/** Every referrer of `subject` known to the registry: the API's answer where there is one, else the fallback tag's. */
export async function listReferrers(repo: RegistryRepository, subject: string): Promise<Descriptor[]> {
  const api = await referrersApi(repo, subject);
  if (api && api.length) return api;
  return (await referrersIndex(repo, subject)).manifests;
}

/**
 * Records `referrer` (already pushed, with `subject` in its body) as a referrer of `subject`. A registry with the
 * referrers API indexes it by itself; otherwise the fallback index tag is updated (read, add, write).
 * Returns how it was recorded.
 */
export async function addReferrer(repo: RegistryRepository, subject: string, referrer: Descriptor): Promise<'api' | 'tag'> {
  const api = await referrersApi(repo, subject);
  if (api?.some((d) => d.digest === referrer.digest)) return 'api';
  const index = await referrersIndex(repo, subject);
  if (index.manifests.some((d) => d.digest === referrer.digest)) return 'tag';
  const next = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...index.manifests, referrer] }));
  const desc = descriptorOf(next, MediaType.ociIndex);
  await repo.putManifest(desc, next, referrersTag(subject));
  return 'tag';
}
