/**
 * The appliance with `--registry`: images land in an existing docker-registry through copy() (skipping what it
 * has), tags move only when published; delta bundles whose base is not held are refused with the missing list;
 * pulls can be made to need a token.
 */
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planBundle } from '../../src/bundle/plan.js';
import { readBundle } from '../../src/bundle/reader.js';
import { writeBundle } from '../../src/bundle/writer.js';
import { STATEMENT_PAYLOAD_TYPE, type Statement } from '../../src/bundle/format.js';
import { OciLayoutStore } from '../../src/oci-layout.js';
import { serializeEnvelope, signEnvelope } from '../../keys/dsse.js';
import { unverifiedStatement } from '../../keys/statement-verifier.js';
import { run } from '../helpers/exec.js';
import { joinTar, splitTar } from '../helpers/tar-edit.js';
import { type Site, api, importPath, makeSite, start, waitImport } from '../helpers/appliance-fixture.js';
import { skopeoDigest } from '../helpers/images.js';
import { type TestRegistry, freePort, startRegistry } from '../helpers/registry.js';

let site: Site;
let registry: TestRegistry;

beforeAll(async () => {
  site = await makeSite();
  registry = await startRegistry();
});

afterAll(async () => {
  await registry?.stop();
});

describe('--registry', () => {
  it('pushes every image into the registry, mounting shared layers, and moves tags with each bundle', async () => {
    const mounts: string[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = ((input: string | URL | Request, init?: RequestInit) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.includes('mount=')) mounts.push(new URL(url).searchParams.get('from') ?? '');
      return realFetch(input, init);
    }) as typeof fetch;
    const app = await start(site, { registry: `http://${registry.host}/site` });
    try {
      await site.bundle({ sequence: 1, name: 'ext1' });
      expect((await importPath(app.url, app.token, 'ext1.airlock')).state).toBe('applied');
      expect(mounts).toEqual(['site/team/app']); // worker's base layer came from app's repository
      const appDigest = app.ctx.state.resolveTag('team/app', '1.0')?.digest;
      expect(await skopeoDigest(`${registry.host}/site/team/app:1.0`)).toBe(appDigest);
      expect(await skopeoDigest(`${registry.host}/site/team/worker:1.0`)).toBe(app.ctx.state.resolveTag('team/worker', '1.0')?.digest);
      // all platforms of the index are there
      await run('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${registry.host}/site/team/app:1.0`, `oci:${join(site.dir, 'ext-check')}:x`]);

      await site.bundle({ sequence: 2, name: 'ext2', images: ['team/worker:2.0'] });
      expect((await importPath(app.url, app.token, 'ext2.airlock')).state).toBe('applied');
      expect(await skopeoDigest(`${registry.host}/site/team/worker:2.0`)).toBe(app.ctx.state.resolveTag('team/worker', '2.0')?.digest);
    } finally {
      globalThis.fetch = realFetch;
      await app.close();
    }
  });

  it('streams layers to the registry while receiving; a failed stream falls back to a push from the store', async () => {
    // The first layer upload the registry starts is pointed at a closed port: the streamed upload of that layer
    // fails mid-import, and the layer must still reach the registry, pushed from the store once the bundle checked out.
    const dead = await freePort();
    let redirected = '';
    const warnings: string[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(String(input instanceof Request ? input.url : input));
      const res = await realFetch(input, init);
      if (!redirected && init?.method === 'POST' && url.pathname.endsWith('/blobs/uploads/') && !url.searchParams.has('mount') && res.status === 202) {
        redirected = url.pathname;
        return new Response(null, { status: 202, headers: { location: `http://127.0.0.1:${dead}/v2/nowhere/blobs/uploads/x` } });
      }
      return res;
    }) as typeof fetch;
    const log = { info: () => undefined, error: () => undefined, warn: (message: string, fields?: Record<string, unknown>) => void warnings.push(`${message} ${JSON.stringify(fields)}`) };
    const app = await start(site, { registry: `http://${registry.host}/tee`, log });
    try {
      await site.bundle({ sequence: 30, name: 'tee1' });
      expect((await importPath(app.url, app.token, 'tee1.airlock')).state).toBe('applied');
      expect(redirected).toMatch(/^\/v2\/tee\/team\//);
      expect(warnings.filter((w) => w.includes('registry'))).toEqual([expect.stringMatching(/^streaming a layer to the registry failed.*ECONNREFUSED/)]);
      expect(await skopeoDigest(`${registry.host}/tee/team/app:1.0`)).toBe(app.ctx.state.resolveTag('team/app', '1.0')?.digest);
      expect(await skopeoDigest(`${registry.host}/tee/team/worker:1.0`)).toBe(app.ctx.state.resolveTag('team/worker', '1.0')?.digest);
      // every layer is complete in the registry: a full copy out of it checks each digest
      await run('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${registry.host}/tee/team/app:1.0`, `oci:${join(site.dir, 'tee-check')}:x`]);
    } finally {
      globalThis.fetch = realFetch;
      await app.close();
    }
  });

  it('stops the stream of a layer whose digest does not match: the import fails, the registry never gets it', async () => {
    const path = await site.bundle({ sequence: 31, name: 'teebad' });
    const entries = splitTar(await readFile(path));
    const layer = entries.filter((e) => e.name.startsWith('blobs/sha256/')).sort((a, b) => b.body.length - a.body.length)[0];
    if (!layer) throw new Error('no blob in the bundle');
    layer.body[layer.body.length >> 1] = (layer.body[layer.body.length >> 1] ?? 0) ^ 0x40;
    await writeFile(join(site.media, 'teebad-flipped.airlock'), joinTar(entries));
    const warnings: string[] = [];
    const log = { info: () => undefined, error: () => undefined, warn: (message: string) => void warnings.push(message) };
    const app = await start(site, { registry: `http://${registry.host}/teebad`, log });
    try {
      const record = await importPath(app.url, app.token, 'teebad-flipped.airlock');
      expect(record).toMatchObject({ state: 'failed', error: { code: 'DIGEST_MISMATCH' } });
      expect(warnings.filter((w) => w.includes('streaming a layer'))).toEqual([]); // our own check stopped it
      const digest = `sha256:${layer.name.slice('blobs/sha256/'.length)}`;
      for (const repo of ['team/app', 'team/worker']) {
        expect((await fetch(`http://${registry.host}/v2/teebad/${repo}/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
      }
    } finally {
      await app.close();
    }
  });

  it('an upload cut off midway fails cleanly with streams under way; the same bundle then imports whole', async () => {
    const path = await site.bundle({ sequence: 32, name: 'teecut' });
    const bytes = await readFile(path);
    const app = await start(site, { registry: `http://${registry.host}/teecut` });
    try {
      const req = request(`${app.url}/api/v1/imports`, { method: 'POST', headers: { authorization: `Bearer ${app.token}`, 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } });
      req.on('error', () => undefined);
      req.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
      let id: string | undefined;
      while (!id) {
        const { body } = await api<{ imports: { id: string; state: string }[] }>(app.url, app.token, '/api/v1/imports');
        id = body.imports.find((i) => i.state === 'running')?.id;
        if (!id) await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 200)); // the first half is in: some layer is being streamed
      req.destroy();
      expect(await waitImport(app.url, app.token, id)).toMatchObject({ state: 'failed', error: { code: 'UPLOAD_INCOMPLETE' } });
      expect((await importPath(app.url, app.token, 'teecut.airlock')).state).toBe('applied');
      expect(await skopeoDigest(`${registry.host}/teecut/team/app:1.0`)).toBe(app.ctx.state.resolveTag('team/app', '1.0')?.digest);
    } finally {
      await app.close();
    }
  });

  it('skips blobs the registry already has', async () => {
    const calls: string[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = ((input: string | URL | Request, init?: RequestInit) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.includes(registry.host)) calls.push(`${init?.method ?? 'GET'} ${new URL(url).pathname}`);
      return realFetch(input, init);
    }) as typeof fetch;
    const app = await start(site, { registry: `http://${registry.host}/site` });
    try {
      await site.bundle({ sequence: 3, name: 'ext3' }); // the same images as ext1
      expect((await importPath(app.url, app.token, 'ext3.airlock')).state).toBe('applied');
      // every upload or mount starts with a POST to /blobs/uploads/: none, everything was there
      expect(calls.filter((c) => c.startsWith('POST'))).toEqual([]);
      expect(calls.filter((c) => c.startsWith('HEAD')).length).toBeGreaterThan(0);
    } finally {
      globalThis.fetch = realFetch;
      await app.close();
    }
  });

  it('fails the import, leaving the bundle in force, when the registry is unreachable', async () => {
    const app = await start(site, { registry: `http://127.0.0.1:${await freePort()}/site` });
    try {
      await site.bundle({ sequence: 4, name: 'ext4' });
      const record = await importPath(app.url, app.token, 'ext4.airlock');
      expect(record).toMatchObject({ state: 'failed', error: { code: 'REGISTRY_UNREACHABLE' } });
      expect(app.ctx.state.status()).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

describe('delta bundles', () => {
  it('refuses a delta whose base blobs are not held, listing exactly what is missing', async () => {
    // The delta names a base the site has applied (a small bundle) but leaves out layers only `full` carries.
    const small = await site.bundle({ sequence: 19, name: 'small', images: ['team/worker:2.0'] });
    const smallRoot = (await readBundle({ source: createReadStream(small), verifyStatement: unverifiedStatement, metadataOnly: true })).root.digest;
    const full = await site.bundle({ sequence: 20, name: 'full' });
    const extracted = join(site.dir, 'full-extracted');
    await run('mkdir', ['-p', extracted]);
    await run('tar', ['xf', full, '-C', extracted]);
    const source = await OciLayoutStore.open(extracted);
    const head = await readBundle({ source: createReadStream(full), verifyStatement: unverifiedStatement, metadataOnly: true });
    const metadata = (d: string) => head.metadata.get(d);
    const imageLayers = planBundle(head.root, metadata).blobs.filter((d) => d.mediaType.includes('image.layer'));
    const leaveOut = new Set(imageLayers.slice(0, 2).map((d) => d.digest));
    const statement: Statement = { ...head.statement, sequence: 21, base: smallRoot };
    const signature = serializeEnvelope(signEnvelope(STATEMENT_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), site.trust.release));
    const out = join(site.media, 'delta.airlock');
    await writeBundle({ out, root: head.root, metadata, signature, openBlob: (d) => source.fetch(d), leaveOut: (d) => leaveOut.has(d.digest) });
    expect((await readFile(out)).length).toBeLessThan((await readFile(full)).length);

    const app = await start(site);
    try {
      expect((await importPath(app.url, app.token, 'small.airlock')).state).toBe('applied');
      const record = await importPath(app.url, app.token, 'delta.airlock');
      expect(record).toMatchObject({ state: 'failed', error: { code: 'BASE_MISSING' } });
      for (const digest of leaveOut) expect(record.error?.message).toContain(digest);
      // once the base is held, the same delta imports
      expect((await importPath(app.url, app.token, 'full.airlock')).state).toBe('applied');
      expect((await importPath(app.url, app.token, 'delta.airlock')).state).toBe('applied');
    } finally {
      await app.close();
    }
  });
});

describe('HTTPS', () => {
  it('serves the API, registry and Git mirror over TLS with --tls-cert/--tls-key', async () => {
    const key = join(site.dir, 'tls.key');
    const cert = join(site.dir, 'tls.crt');
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    const app = await start(site, { tls: { cert: await readFile(cert), key: await readFile(key) } });
    try {
      expect(app.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const ca = await readFile(cert);
      const get = (path: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          httpsGet(`${app.url}${path}`, { ca }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          }).on('error', reject);
        });
      expect(await get('/v2/')).toEqual({ status: 200, body: '{}' });
      expect((await get('/api/v1/status')).status).toBe(401);
      await expect(fetch(`${app.url.replace('https', 'http')}/v2/`)).rejects.toThrow();
    } finally {
      await app.close();
    }
  });
});

describe('pull access', () => {
  it('needs a token for /v2 and /git with --pull-requires-token', async () => {
    const app = await start(site, { pullRequiresToken: true });
    try {
      await site.bundle({ sequence: 30, name: 'locked' });
      expect((await importPath(app.url, app.token, 'locked.airlock')).state).toBe('applied');
      expect((await fetch(`${app.url}/v2/team/app/manifests/1.0`)).status).toBe(401);
      expect((await fetch(`${app.url}/git/platform.git/info/refs?service=git-upload-pack`)).status).toBe(401);
      expect((await fetch(`${app.url}/v2/team/app/manifests/1.0`, { headers: { authorization: `Bearer ${app.token}`, accept: 'application/vnd.oci.image.index.v1+json' } })).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
