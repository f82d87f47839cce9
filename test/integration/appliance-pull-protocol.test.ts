/**
 * Issue 17 items 4 and 5, with curl, skopeo and git: the registry paginates the tags list and the catalog
 * (`n`, `last`, `Link`; skopeo list-tags follows the pages), answers `If-None-Match` with 304, a multi-range
 * request with the whole blob, and the referrers API (an OCI index, filtered by `artifactType`); the Git mirror
 * hides its internal `refs/airlock/staged/*` from every client and serves partial clones.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Site, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { run } from '../helpers/exec.js';
import { type Desc, tagLayout, writeBlob } from '../helpers/images.js';

let site: Site;
let app: Awaited<ReturnType<typeof start>>;
let host: string;
let work: string;
let worker: Desc;
const SBOM = 'application/spdx+json';
const SIG = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const WORKER_TAGS = ['1.0', '1.1', '1.2', 'sbom', 'sig'];

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An OCI artifact manifest (empty config) whose subject is `subject`. */
async function artifact(subject: Desc, artifactType: string, content: string): Promise<Desc> {
  const config = await writeBlob(site.layout, Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
  const layer = await writeBlob(site.layout, Buffer.from(content), artifactType);
  const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType, config, layers: [layer], subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size }, annotations: { 'org.opencontainers.image.created': '2026-11-30T00:00:00Z' } };
  return writeBlob(site.layout, Buffer.from(JSON.stringify(manifest)), manifest.mediaType);
}

/** curl's status, headers (lower-cased names) and body (through files: bodies are binary). */
let curls = 0;
async function curl(path: string, args: string[] = []): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const name = join(work, `curl-${curls++}`);
  await run('curl', ['-s', '-D', `${name}.head`, '-o', `${name}.body`, ...args, `${app.url}${path}`]);
  const head = (await readFile(`${name}.head`, 'latin1')).split('\r\n').filter(Boolean);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(head[0]?.split(' ')[1]), headers, body: await readFile(`${name}.body`).catch(() => Buffer.alloc(0)) };
}

beforeAll(async () => {
  site = await makeSite({ layerSize: 3000 });
  work = await mkdtemp(join(tmpdir(), 'airlock-pull-protocol-'));
  const index = JSON.parse(await readFile(join(site.layout, 'index.json'), 'utf8')) as { manifests: (Desc & { annotations: Record<string, string> })[] };
  worker = index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === 'team/worker:1.0')!;
  for (const tag of ['1.1', '1.2']) await tagLayout(site.layout, worker, `team/worker:${tag}`);
  await tagLayout(site.layout, await artifact(worker, SBOM, '{"spdxVersion":"SPDX-2.3"}'), 'team/worker:sbom');
  await tagLayout(site.layout, await artifact(worker, SIG, '{"signature":"not really"}'), 'team/worker:sig');
  app = await start(site, { registryMaxPage: 2 });
  host = app.url.replace('http://', '');
  await site.bundle({ sequence: 1, name: 'one', images: ['team/app:1.0', ...WORKER_TAGS.map((t) => `team/worker:${t}`)] });
  expect((await importPath(app.url, app.token, 'one.airlock')).state).toBe('applied');
  await site.commit({ 'clusters/store/cm2.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n' }, 'second');
  await site.bundle({ sequence: 2, name: 'two', images: ['team/app:1.0', ...WORKER_TAGS.map((t) => `team/worker:${t}`)] });
  expect((await importPath(app.url, app.token, 'two.airlock')).state).toBe('applied');
}, 120_000);

afterAll(async () => {
  await app?.close();
});

describe('registry listing pagination', () => {
  it('pages the tags list with n, last and a Link header', async () => {
    const first = await curl('/v2/team/worker/tags/list?n=2');
    expect(JSON.parse(first.body.toString())).toEqual({ name: 'team/worker', tags: ['1.0', '1.1'] });
    expect(first.headers.link).toBe('</v2/team/worker/tags/list?n=2&last=1.1>; rel="next"');
    const second = await curl('/v2/team/worker/tags/list?n=2&last=1.1');
    expect(JSON.parse(second.body.toString()).tags).toEqual(['1.2', 'sbom']);
    const third = await curl('/v2/team/worker/tags/list?n=2&last=sbom');
    expect(JSON.parse(third.body.toString()).tags).toEqual(['sig']);
    expect(third.headers.link).toBeUndefined();
    // without n, at most the server's page (2 here), with a Link to the rest
    const unasked = await curl('/v2/team/worker/tags/list');
    expect(JSON.parse(unasked.body.toString()).tags).toEqual(['1.0', '1.1']);
    expect(unasked.headers.link).toBe('</v2/team/worker/tags/list?n=2&last=1.1>; rel="next"');
    expect(JSON.parse((await curl('/v2/team/worker/tags/list?n=0')).body.toString()).tags).toEqual([]);
    const bad = await curl('/v2/team/worker/tags/list?n=many');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body.toString()).errors[0].code).toBe('PAGINATION_NUMBER_INVALID');
  });

  it('pages the catalog the same way', async () => {
    const first = await curl('/v2/_catalog?n=1');
    expect(JSON.parse(first.body.toString())).toEqual({ repositories: ['team/app'] });
    expect(first.headers.link).toBe('</v2/_catalog?n=1&last=team%2Fapp>; rel="next"');
    const second = await curl('/v2/_catalog?n=1&last=team%2Fapp');
    expect(JSON.parse(second.body.toString())).toEqual({ repositories: ['team/worker'] });
    expect(second.headers.link).toBeUndefined();
  });

  it('skopeo list-tags follows the Link pages to every tag', async () => {
    const listed = JSON.parse(await run('skopeo', ['list-tags', '--tls-verify=false', `docker://${host}/team/worker`])) as { Tags: string[] };
    expect(listed.Tags).toEqual(WORKER_TAGS);
  });
});

describe('registry conditional and range requests', () => {
  it('answers If-None-Match with the digest ETag by 304, for manifests and blobs', async () => {
    const manifest = await curl('/v2/team/worker/manifests/1.0', ['-H', `accept: ${worker.mediaType}`]);
    expect(manifest.status).toBe(200);
    expect(manifest.headers.etag).toBe(`"${worker.digest}"`);
    const again = await curl('/v2/team/worker/manifests/1.0', ['-H', `accept: ${worker.mediaType}`, '-H', `if-none-match: ${manifest.headers.etag}`]);
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers['docker-content-digest']).toBe(worker.digest);
    const other = await curl('/v2/team/worker/manifests/1.0', ['-H', `accept: ${worker.mediaType}`, '-H', 'if-none-match: "sha256:0000"']);
    expect(other.status).toBe(200);
    const layer = (JSON.parse(manifest.body.toString()) as { layers: Desc[] }).layers[0]!;
    expect((await curl(`/v2/team/worker/blobs/${layer.digest}`, ['-H', `if-none-match: W/"${layer.digest}", "x"`])).status).toBe(304);
    expect((await curl(`/v2/team/worker/blobs/${layer.digest}`, ['-I', '-H', `if-none-match: "${layer.digest}"`])).status).toBe(304);
  });

  it('answers a multi-range request with the whole blob (200), one range with 206, none satisfiable with 416', async () => {
    const manifest = JSON.parse((await curl('/v2/team/worker/manifests/1.0', ['-H', `accept: ${worker.mediaType}`])).body.toString()) as { layers: Desc[] };
    const layer = manifest.layers[0]!;
    const multi = await curl(`/v2/team/worker/blobs/${layer.digest}`, ['-r', '0-9,20-29']);
    expect(multi.status).toBe(200);
    expect(sha(multi.body)).toBe(layer.digest);
    const one = await curl(`/v2/team/worker/blobs/${layer.digest}`, ['-r', '20-29']);
    expect(one.status).toBe(206);
    expect(one.headers['content-range']).toBe(`bytes 20-29/${layer.size}`);
    expect(one.body.length).toBe(10);
    const none = await curl(`/v2/team/worker/blobs/${layer.digest}`, ['-r', `${layer.size}-,${layer.size + 10}-`]);
    expect(none.status).toBe(416);
  });
});

describe('referrers API', () => {
  it('lists the manifests whose subject is the digest, as an OCI image index, filtered by artifactType', async () => {
    const all = await curl(`/v2/team/worker/referrers/${worker.digest}`);
    expect(all.status).toBe(200);
    expect(all.headers['content-type']).toMatch(/^application\/vnd\.oci\.image\.index\.v1\+json/);
    const index = JSON.parse(all.body.toString()) as { schemaVersion: number; mediaType: string; manifests: (Desc & { artifactType?: string })[] };
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests.map((m) => m.artifactType).sort()).toEqual([SBOM, SIG].sort());
    expect(index.manifests.every((m) => m.mediaType === 'application/vnd.oci.image.manifest.v1+json' && m.annotations?.['org.opencontainers.image.created'])).toBe(true);
    expect(all.headers['oci-filters-applied']).toBeUndefined();
    const sbomOnly = await curl(`/v2/team/worker/referrers/${worker.digest}?artifactType=${encodeURIComponent(SBOM)}`);
    expect(sbomOnly.headers['oci-filters-applied']).toBe('artifactType');
    const filtered = JSON.parse(sbomOnly.body.toString()) as { manifests: { artifactType: string; digest: string }[] };
    expect(filtered.manifests.map((m) => m.artifactType)).toEqual([SBOM]);
    // each listed referrer is a manifest the registry serves
    const referrer = await curl(`/v2/team/worker/manifests/${filtered.manifests[0]!.digest}`, ['-H', 'accept: application/vnd.oci.image.manifest.v1+json']);
    expect(JSON.parse(referrer.body.toString()).subject.digest).toBe(worker.digest);
  });

  it('answers an empty index for a digest nothing refers to, 400 for a bad digest, 404 for an unknown repository', async () => {
    const empty = await curl(`/v2/team/app/referrers/${sha('nothing')}`);
    expect(empty.status).toBe(200);
    expect(JSON.parse(empty.body.toString())).toEqual({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    expect((await curl('/v2/team/app/referrers/latest')).status).toBe(400);
    expect((await curl(`/v2/no/such/referrers/${sha('x')}`)).status).toBe(404);
  });
});

describe('Git mirror protocol', () => {
  const url = () => `${app.url}/git/platform.git`;

  it('holds staged refs inside but shows none to ls-remote (protocol v0, v2, dumb HTTP) or clone --mirror', async () => {
    const inside = await run('git', ['-C', join(app.ctx.mirror.root, 'platform.git'), 'for-each-ref', '--format=%(refname)', 'refs/airlock']);
    expect(inside.trim().split('\n').length).toBe(2); // one per import: the test would see them if shown
    const v2 = await run('git', ['-c', 'protocol.version=2', 'ls-remote', url()]);
    const v0 = await run('git', ['-c', 'protocol.version=0', 'ls-remote', url()]);
    const dumb = await run('git', ['ls-remote', url()], { env: { GIT_SMART_HTTP: '0' } });
    for (const listing of [v2, v0, dumb]) {
      expect(listing).toMatch(/\trefs\/heads\/main$/m);
      expect(listing).not.toContain('refs/airlock');
    }
    const mirror = join(work, 'mirror.git');
    await run('git', ['clone', '-q', '--mirror', url(), mirror]);
    const refs = await run('git', ['-C', mirror, 'for-each-ref', '--format=%(refname)']);
    expect(refs).toContain('refs/heads/main');
    expect(refs).not.toContain('refs/airlock');
  });

  it('serves a partial clone (--filter=blob:none)', async () => {
    const dir = join(work, 'partial');
    await run('git', ['clone', '-q', '--no-checkout', '--filter=blob:none', url(), dir]);
    expect((await run('git', ['-C', dir, 'config', 'remote.origin.partialclonefilter'])).trim()).toBe('blob:none');
    const missing = (await run('git', ['-C', dir, 'rev-list', '--objects', '--missing=print', 'HEAD'])).split('\n').filter((l) => l.startsWith('?'));
    expect(missing.length).toBeGreaterThanOrEqual(2); // both manifests' blobs left on the server
    await run('git', ['-C', dir, 'checkout', '-q', 'main']); // fetched on demand
    expect(await readFile(join(dir, 'clusters/store/cm2.yaml'), 'utf8')).toContain('name: b');
  });
});
