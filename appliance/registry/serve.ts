/**
 * The embedded registry: the OCI distribution pull API served from the appliance's blob store. Only what a
 * published bundle made visible is served, per repository. Manifests and blobs by tag and digest (GET, HEAD),
 * `Range` on blobs, tags list, catalog, OCI error bodies; every write method is refused.
 */
import { createReadStream } from 'node:fs';
import type { Request, Response } from 'express';
import { isDigest } from '../../src/descriptor.js';
import type { OciLayoutStore } from '../../src/oci-layout.js';
import type { StateStore } from '../state/store.js';

function ociError(res: Response, status: number, code: string, message: string, detail?: unknown): void {
  res.status(status).type('application/json').send(JSON.stringify({ errors: [{ code, message, ...(detail ? { detail } : {}) }] }));
}

export function registryHandler(state: StateStore, cas: OciLayoutStore) {
  return (req: Request, res: Response): void => {
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
      res.json({ repositories: state.repositories() });
      return;
    }
    const tags = /^\/(.+)\/tags\/list$/.exec(path);
    if (tags?.[1]) {
      const list = state.tagsOf(tags[1]);
      if (!list.length && !state.repositories().includes(tags[1])) {
        ociError(res, 404, 'NAME_UNKNOWN', `repository ${tags[1]} is not known`);
        return;
      }
      res.json({ name: tags[1], tags: list });
      return;
    }
    const match = /^\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    if (!match?.[1] || !match[3]) {
      ociError(res, 404, 'NOT_FOUND', `no such endpoint ${path}`);
      return;
    }
    const [, repository, kind, reference] = match as unknown as [string, string, string, string];
    if (kind === 'manifests') {
      const desc = isDigest(reference) ? state.visibleBlob(repository, reference) : state.resolveTag(repository, reference);
      if (!desc) {
        ociError(res, 404, 'MANIFEST_UNKNOWN', `manifest ${repository}:${reference} is not known`);
        return;
      }
      res.set({ 'content-type': desc.mediaType, 'docker-content-digest': desc.digest, 'content-length': String(desc.size), etag: `"${desc.digest}"` });
      if (req.method === 'HEAD') {
        res.status(200).end();
        return;
      }
      createReadStream(cas.blobPath(desc.digest)).on('error', () => res.destroy()).pipe(res);
      return;
    }
    if (!isDigest(reference)) {
      ociError(res, 400, 'DIGEST_INVALID', `${reference} is not a sha256 digest`);
      return;
    }
    const desc = state.visibleBlob(repository, reference);
    if (!desc) {
      ociError(res, 404, 'BLOB_UNKNOWN', `blob ${reference} is not known in ${repository}`);
      return;
    }
    res.set({ 'content-type': 'application/octet-stream', 'docker-content-digest': desc.digest, 'accept-ranges': 'bytes', etag: `"${desc.digest}"` });
    const range = parseRange(req.headers.range, desc.size);
    if (range === 'invalid') {
      res.set('content-range', `bytes */${desc.size}`);
      ociError(res, 416, 'RANGE_INVALID', `cannot satisfy range ${req.headers.range} of a ${desc.size}-byte blob`);
      return;
    }
    if (range) {
      res.status(206).set({ 'content-range': `bytes ${range.start}-${range.end}/${desc.size}`, 'content-length': String(range.end - range.start + 1) });
    } else {
      res.status(200).set('content-length', String(desc.size));
    }
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(cas.blobPath(desc.digest), { highWaterMark: 1024 * 1024, ...(range ?? {}) }).on('error', () => res.destroy()).pipe(res);
  };
}

/** A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range; undefined when absent. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'invalid' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'invalid';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return 'invalid';
  return { start, end };
}
