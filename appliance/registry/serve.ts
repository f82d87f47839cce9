/**
 * The embedded registry: the OCI distribution pull API served from the appliance's blob store. Only what a
 * published bundle made visible is served, per repository. Manifests and blobs by tag and digest (GET, HEAD),
 * `Range` and `If-None-Match` (range.ts), the tags list and catalog with `n`/`last`/`Link` (paginate.ts), the
 * referrers API (referrers.ts), OCI error bodies; every write method is refused. Bodies go through send-file.ts,
 * which closes the file on every path.
 */
import type { Request, Response } from 'express';
import { isDigest, MediaType } from '../../src/descriptor.js';
import type { OciLayoutStore } from '../../src/oci-layout.js';
import type { StateStore } from '../state/store.js';
import { ociError } from './oci-error.js';
import { paginate } from './paginate.js';
import { matchesIfNoneMatch, parseRange } from './range.js';
import { Referrers } from './referrers.js';
import { sendFile } from './send-file.js';

export interface RegistryOptions {
  /** The most entries one page of the tags list or the catalog holds (default 1000); more follow by `Link`. */
  maxPage?: number;
}

export function registryHandler(state: StateStore, cas: OciLayoutStore, { maxPage = 1000 }: RegistryOptions = {}) {
  const referrers = new Referrers(state, cas);
  const handle = async (req: Request, res: Response): Promise<void> => {
    res.set('docker-distribution-api-version', 'registry/2.0');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      ociError(res, 405, 'UNSUPPORTED', 'this registry is read-only: images arrive in signed bundles');
      return;
    }
    const path = req.path; // relative to /v2
    if (path === '/' || path === '') {
      res.type('application/json').send('{}');
      return;
    }
    if (path === '/_catalog') {
      const page = paginate(state.repositories(), req.query, '/v2/_catalog', maxPage);
      if ('error' in page) return ociError(res, 400, 'PAGINATION_NUMBER_INVALID', page.error);
      if (page.link) res.set('link', page.link);
      res.json({ repositories: page.items });
      return;
    }
    const tags = /^\/(.+)\/tags\/list$/.exec(path);
    if (tags?.[1]) {
      const repository = tags[1];
      const list = state.tagsOf(repository);
      if (!list.length && !state.repositories().includes(repository)) return ociError(res, 404, 'NAME_UNKNOWN', `repository ${repository} is not known`);
      const page = paginate(list, req.query, `/v2/${repository}/tags/list`, maxPage);
      if ('error' in page) return ociError(res, 400, 'PAGINATION_NUMBER_INVALID', page.error);
      if (page.link) res.set('link', page.link);
      res.json({ name: repository, tags: page.items });
      return;
    }
    const refs = /^\/(.+)\/referrers\/([^/]+)$/.exec(path);
    if (refs?.[1] && refs[2]) {
      const [, repository, digest] = refs as unknown as [string, string, string];
      if (!isDigest(digest)) return ociError(res, 400, 'DIGEST_INVALID', `${digest} is not a sha256 digest`);
      if (!state.repositories().includes(repository)) return ociError(res, 404, 'NAME_UNKNOWN', `repository ${repository} is not known`);
      const artifactType = typeof req.query.artifactType === 'string' ? req.query.artifactType : undefined;
      const index = await referrers.index(repository, digest, artifactType);
      if (artifactType !== undefined) res.set('oci-filters-applied', 'artifactType');
      res.status(200).type(MediaType.ociIndex).send(JSON.stringify(index));
      return;
    }
    const match = /^\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    if (!match?.[1] || !match[3]) return ociError(res, 404, 'NOT_FOUND', `no such endpoint ${path}`);
    const [, repository, kind, reference] = match as unknown as [string, string, string, string];
    if (kind === 'manifests') {
      const desc = isDigest(reference) ? state.visibleBlob(repository, reference) : state.resolveTag(repository, reference);
      if (!desc) return ociError(res, 404, 'MANIFEST_UNKNOWN', `manifest ${repository}:${reference} is not known`);
      const etag = `"${desc.digest}"`;
      res.set({ 'docker-content-digest': desc.digest, etag });
      if (matchesIfNoneMatch(req.headers['if-none-match'], etag)) {
        res.status(304).end();
        return;
      }
      res.set({ 'content-type': desc.mediaType, 'content-length': String(desc.size) });
      if (req.method === 'HEAD') {
        res.status(200).end();
        return;
      }
      await sendFile(req, res, cas.blobPath(desc.digest));
      return;
    }
    if (!isDigest(reference)) return ociError(res, 400, 'DIGEST_INVALID', `${reference} is not a sha256 digest`);
    const desc = state.visibleBlob(repository, reference);
    if (!desc) return ociError(res, 404, 'BLOB_UNKNOWN', `blob ${reference} is not known in ${repository}`);
    const etag = `"${desc.digest}"`;
    res.set({ 'docker-content-digest': desc.digest, 'accept-ranges': 'bytes', etag });
    if (matchesIfNoneMatch(req.headers['if-none-match'], etag)) {
      res.status(304).end();
      return;
    }
    res.set('content-type', 'application/octet-stream');
    const range = parseRange(req.headers.range, desc.size);
    if (range.kind === 'unsatisfiable') {
      res.set('content-range', `bytes */${desc.size}`);
      return ociError(res, 416, 'RANGE_INVALID', `cannot satisfy range ${String(req.headers.range)} of a ${desc.size}-byte blob`);
    }
    if (range.kind === 'part') res.status(206).set({ 'content-range': `bytes ${range.start}-${range.end}/${desc.size}`, 'content-length': String(range.end - range.start + 1) });
    else res.status(200).set('content-length', String(desc.size));
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await sendFile(req, res, cas.blobPath(desc.digest), range.kind === 'part' ? range : undefined);
  };
  return (req: Request, res: Response): void => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) res.destroy();
      else ociError(res, 500, 'UNKNOWN', `the registry failed: ${err instanceof Error ? err.message : String(err)}`);
    });
  };
}
