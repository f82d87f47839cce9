/**
 * Channel heads: the release each channel's sites should run. In the depot, the channel tag's root and the
 * sequence of its signature artifact, with every earlier release of the channel found through the referrers
 * tags (`sha256-<hex>`, one per pushed root); from bundles (a folder of receipts), the newest bundle given per
 * channel, with the others as earlier releases.
 */
import { ANNOTATION_CHANNEL, ANNOTATION_SEQUENCE, SIGNATURE_ARTIFACT_TYPE } from '../depot/layout.js';
import { listReferrers } from '../depot/referrers.js';
import type { Descriptor } from '../descriptor.js';
import { AirlockError, isAirlockError } from '../errors.js';
import { parseJson } from '../graph.js';
import { openBundleSource } from '../bundle/parts-source.js';
import { readBundle } from '../bundle/reader.js';
import type { Statement } from '../bundle/format.js';
import type { RegistryRepository } from '../registry/repository.js';
import { unverifiedPartsIndex } from '../../keys/parts.js';
import { unverifiedStatement } from '../../keys/statement-verifier.js';
import type { ChannelHead } from './status.js';

const sequenceOf = (d: Descriptor) => Number(d.annotations?.[ANNOTATION_SEQUENCE] ?? 0);

/** Every tag of the repository (following `Link` pages). */
async function listTags(repo: RegistryRepository): Promise<string[]> {
  const tags: string[] = [];
  let path: string | undefined = `/v2/${repo.name}/tags/list?n=1000`;
  for (let pages = 0; path && pages < 1000; pages++) {
    const res = await repo.client.request('GET', path, { scopes: [`repository:${repo.name}:pull`], what: `${repo.client.registry}/${repo.name} tags`, accept: [404] });
    if (res.status === 404) {
      await res.body?.cancel();
      return tags;
    }
    const body = parseJson<{ tags?: string[] | null }>(Buffer.from(await res.arrayBuffer()), `${repo.name} tags`);
    tags.push(...(body.tags ?? []));
    const link = /<([^>]+)>;\s*rel="?next"?/.exec(res.headers.get('link') ?? '');
    path = link?.[1];
  }
  return tags;
}

/** The head of `channel` in the depot, or undefined when nothing was pushed to it. */
export async function depotHead(repo: RegistryRepository, channel: string): Promise<ChannelHead | undefined> {
  let root: Descriptor;
  try {
    root = (await repo.getManifest(channel)).desc;
  } catch (err) {
    if (isAirlockError(err, 'MANIFEST_UNKNOWN')) return undefined;
    throw err;
  }
  const sigs = (await listReferrers(repo, root.digest)).filter((d) => d.artifactType === SIGNATURE_ARTIFACT_TYPE);
  const sequence = sigs.reduce((n, d) => Math.max(n, sequenceOf(d)), 0);
  const releases = new Map<string, number>([[root.digest, sequence]]);
  for (const tag of await listTags(repo)) {
    if (!/^sha256-[a-f0-9]{64}$/.test(tag)) continue;
    const subject = tag.replace('-', ':');
    try {
      const index = parseJson<{ manifests?: Descriptor[] }>((await repo.getManifest(tag)).bytes, `${repo.name}:${tag}`);
      for (const d of index.manifests ?? []) {
        if (d.artifactType === SIGNATURE_ARTIFACT_TYPE && d.annotations?.[ANNOTATION_CHANNEL] === channel) releases.set(subject, Math.max(releases.get(subject) ?? 0, sequenceOf(d)));
      }
    } catch (err) {
      if (!isAirlockError(err)) throw err;
    }
  }
  return { channel, root: root.digest, sequence, releases: [...releases].map(([r, s]) => ({ root: r, sequence: s })).sort((a, b) => a.sequence - b.sequence) };
}

/** The signed statement of a bundle (file, parts directory or parts index); only the head of the archive is read. */
export async function bundleStatement(path: string): Promise<Statement> {
  const opened = await openBundleSource(path, { readIndex: unverifiedPartsIndex, highWaterMark: 64 * 1024, hashParts: false });
  try {
    return (await readBundle({ source: opened.source, verifyStatement: unverifiedStatement, metadataOnly: true })).statement;
  } catch (err) {
    throw new AirlockError(isAirlockError(err) ? err.code : 'BUNDLE_CORRUPT', `${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    opened.close();
  }
}

/** Heads from bundles: per channel the one with the highest sequence; all of them are its known releases. */
export async function bundleHeads(paths: string[]): Promise<Map<string, ChannelHead>> {
  const heads = new Map<string, ChannelHead>();
  for (const path of paths) {
    const s = await bundleStatement(path);
    const head = heads.get(s.channel) ?? { channel: s.channel, root: s.root.digest, sequence: s.sequence, name: s.name, releases: [] };
    head.releases.push({ root: s.root.digest, sequence: s.sequence });
    if (s.sequence >= head.sequence) Object.assign(head, { root: s.root.digest, sequence: s.sequence, name: s.name });
    heads.set(s.channel, head);
  }
  for (const h of heads.values()) h.releases.sort((a, b) => a.sequence - b.sequence);
  return heads;
}
