/** The appliance over HTTP with real clients: skopeo, git, the airlock CLI; and every way an import can fail. */
import { createHash } from 'node:crypto';
import { readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../appliance/http/auth.js';
import { exec, run } from '../helpers/exec.js';
import { airlock } from '../helpers/cli.js';
import { type Site, api, importPath, makeSite, start, waitImport, type ImportRecordView } from '../helpers/appliance-fixture.js';
import { makeTrust } from '../helpers/trust.js';
import { skopeoDigest } from '../helpers/images.js';
import { joinTar, splitTar } from '../helpers/tar-edit.js';

let site: Site;
let app: Awaited<ReturnType<typeof start>>;
let host: string;
let first: ImportRecordView;

/** The id of the import that is running, from the history. */
async function runningImport(): Promise<string> {
  for (;;) {
    const { body } = await api<{ imports: { id: string; state: string }[] }>(app.url, app.token, '/api/v1/imports');
    const running = body.imports.find((i) => i.state === 'running');
    if (running) return running.id;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const status = async () => (await api<{ channels: { channel: string; sequence: number; rootDigest: string }[] }>(app.url, app.token, '/api/v1/status')).body.channels;

beforeAll(async () => {
  site = await makeSite();
  app = await start(site);
  host = app.url.replace('http://', '');
  await site.bundle({ sequence: 10, name: 'first' });
  first = await importPath(app.url, app.token, 'first.airlock');
});

afterAll(async () => {
  await app?.close();
});

describe('appliance API', () => {
  it('writes an admin token (0600) at first start and answers 401 on every /api route without a valid one', async () => {
    expect((await stat(app.adminTokenPath)).mode & 0o777).toBe(0o600);
    for (const [method, path] of [['GET', '/api/v1/status'], ['GET', '/api/v1/bundles'], ['GET', `/api/v1/imports/${first.id}`], ['POST', '/api/v1/imports']] as const) {
      expect((await api(app.url, undefined, path, { method })).status).toBe(401);
      expect((await api(app.url, 'alk_wrong', path, { method })).status).toBe(401);
    }
  });

  it('refuses an import from a viewer token (403)', async () => {
    app.ctx.state.addToken('viewer-1', hashToken('viewer-secret'), 'viewer', 'viewer', new Date());
    expect((await api(app.url, 'viewer-secret', '/api/v1/status')).status).toBe(200);
    const refused = await api(app.url, 'viewer-secret', '/api/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"path":"first.airlock"}' });
    expect(refused.status).toBe(403);
  });

  it('imports from the media directory, recording signers, stages and timings', async () => {
    expect(first).toMatchObject({ state: 'applied', sequence: 10, error: null, idempotent: false });
    expect(first.stages.map((s) => s.stage)).toEqual(['receive', 'load-images', 'git-mirror', 'record', 'finish']);
    expect(first.stages.every((s) => typeof s.ms === 'number')).toBe(true);
    const channels = await status();
    expect(channels).toMatchObject([{ channel: 'stable', sequence: 10 }]);
    const history = await api<{ bundles: { id: string; signers: string[] }[] }>(app.url, app.token, '/api/v1/bundles');
    expect(history.body.bundles[0]?.signers).toEqual([site.trust.release[0]?.keyid]);
  });

  it('re-imports the bundle in force idempotently, reading and verifying it through (issue 16.12)', async () => {
    const again = await importPath(app.url, app.token, 'first.airlock');
    expect(again).toMatchObject({ state: 'applied', idempotent: true });
    expect(again.progress.bytes).toBe((await stat(join(site.media, 'first.airlock'))).size);
    expect((await status())[0]?.sequence).toBe(10);
  });

  it('uploads with `airlock appliance import --wait`', async () => {
    await site.commit({ 'clusters/store/cm2.yaml': 'kind: ConfigMap\n' }, 'second');
    const path = await site.bundle({ sequence: 11, name: 'second', images: ['team/app:1.0', 'team/worker:2.0'] });
    await writeFile(join(site.dir, 'token'), app.token);
    const res = await airlock(['appliance', 'import', path, '--server', app.url, '--token-file', join(site.dir, 'token'), '--wait', '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ state: 'applied', sequence: 11 });
    expect((await status())[0]?.sequence).toBe(11);
  });
});

describe('embedded registry', () => {
  it('serves images to skopeo with every digest unchanged', async () => {
    const rootIndex = (await app.ctx.state.resolveTag('team/app', '1.0'))!;
    expect(await skopeoDigest(`${host}/team/app:1.0`)).toBe(rootIndex.digest);
    const out = join(site.dir, 'pulled');
    await run('skopeo', ['copy', '--quiet', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${host}/team/app:1.0`, `oci:${out}:app`]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests[0]?.digest).toBe(rootIndex.digest);
    expect(await skopeoDigest(`${host}/team/worker:2.0`)).toBe(app.ctx.state.resolveTag('team/worker', '2.0')?.digest);
  });

  it('answers manifests and blobs by tag and digest with the right headers, ranges, tags list and catalog', async () => {
    const desc = app.ctx.state.resolveTag('team/worker', '2.0')!;
    const head = await fetch(`${app.url}/v2/team/worker/manifests/2.0`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe(desc.mediaType);
    expect(head.headers.get('docker-content-digest')).toBe(desc.digest);
    expect(head.headers.get('content-length')).toBe(String(desc.size));
    const manifest = await (await fetch(`${app.url}/v2/team/worker/manifests/${desc.digest}`)).text();
    expect(`sha256:${createHash('sha256').update(manifest).digest('hex')}`).toBe(desc.digest);
    const layer = (JSON.parse(manifest) as { layers: { digest: string; size: number }[] }).layers[0]!;
    const whole = Buffer.from(await (await fetch(`${app.url}/v2/team/worker/blobs/${layer.digest}`)).arrayBuffer());
    expect(whole.length).toBe(layer.size);
    const part = await fetch(`${app.url}/v2/team/worker/blobs/${layer.digest}`, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${layer.size}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(whole.subarray(10, 20))).toBe(true);
    expect((await fetch(`${app.url}/v2/team/worker/blobs/${layer.digest}`, { headers: { range: `bytes=${layer.size + 5}-` } })).status).toBe(416);
    expect(await (await fetch(`${app.url}/v2/team/worker/tags/list`)).json()).toEqual({ name: 'team/worker', tags: ['2.0'] });
    expect(await (await fetch(`${app.url}/v2/_catalog`)).json()).toEqual({ repositories: ['team/app', 'team/worker'] });
    const missing = await fetch(`${app.url}/v2/team/worker/manifests/9.9`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ errors: [{ code: 'MANIFEST_UNKNOWN' }] });
    expect((await fetch(`${app.url}/v2/team/app/blobs/${layer.digest}`)).status).toBe(404); // not a blob of team/app
    expect((await fetch(`${app.url}/v2/team/worker/blobs/uploads/`, { method: 'POST' })).status).toBe(405);
  });
});

describe('Git mirror', () => {
  it('clones with git, and fetch brings the newer bundle\'s commit; history accumulates', async () => {
    const clone = join(site.dir, 'clone');
    await run('git', ['clone', '-q', `${app.url}/git/platform.git`, clone]);
    const head = (await run('git', ['-C', clone, 'rev-parse', 'HEAD'])).trim();
    expect(head).toBe((await run('git', ['-C', site.repo, 'rev-parse', 'HEAD'])).trim());
    const third = await site.commit({ 'clusters/store/cm3.yaml': 'kind: ConfigMap\n' }, 'third');
    await site.bundle({ sequence: 12, name: 'third', images: ['team/worker:2.0'] });
    expect((await importPath(app.url, app.token, 'third.airlock')).state).toBe('applied');
    await run('git', ['-C', clone, 'fetch', '-q', 'origin']);
    expect((await run('git', ['-C', clone, 'rev-parse', 'origin/main'])).trim()).toBe(third);
    expect((await run('git', ['-C', clone, 'rev-list', '--count', 'origin/main'])).trim()).toBe('3');
    const push = await exec('git', ['-C', clone, 'push', 'origin', 'HEAD:refs/heads/evil']);
    expect(push.code).not.toBe(0);
  });
});

describe('failed imports leave the bundle in force', () => {
  async function expectRefused(path: string, code: string) {
    const before = await status();
    const record = await importPath(app.url, app.token, path);
    expect(record.state).toBe('failed');
    expect(record.error?.code).toBe(code);
    expect(await status()).toEqual(before);
    return record;
  }

  it.each([
    ['an untrusted key', async () => site.bundle({ sequence: 50, name: 'untrusted', keys: makeTrust().release }), 'SIGNATURE_INVALID'],
    ['an older sequence (replay)', async () => site.bundle({ sequence: 5, name: 'old' }), 'ROLLBACK'],
    ['an expired statement', async () => site.bundle({ sequence: 51, name: 'expired', expires: '1d', now: new Date(Date.now() - 3 * 86400_000) }), 'EXPIRED'],
  ])('refuses %s', async (_what, make, code) => {
    const path = await make();
    await expectRefused(path.split('/').pop()!, code);
  });

  it('refuses a flipped byte and shows none of its blobs through /v2', async () => {
    const path = await site.bundle({ sequence: 60, name: 'flip', images: ['team/worker:1.0', 'team/worker:2.0'] });
    const bytes = await readFile(path);
    bytes[bytes.length - 1500] = (bytes[bytes.length - 1500] ?? 0) ^ 0x40;
    await writeFile(join(site.media, 'flipped.airlock'), bytes);
    const record = await expectRefused('flipped.airlock', 'DIGEST_MISMATCH');
    expect(record.error?.message).toContain('content digest');
    expect(await (await fetch(`${app.url}/v2/team/worker/tags/list`)).json()).toEqual({ name: 'team/worker', tags: ['2.0'] });
    expect(await readdir(join(app.ctx.cas.dir, 'ingest')).catch(() => [])).toEqual([]);
  });

  it('names the first bad blob of a file whose blobs are hashed and written side by side (ADR 022), and leaves no ingest file', async () => {
    const path = await site.bundle({ sequence: 62, name: 'flip-first', images: ['team/app:1.0', 'team/worker:1.0'] });
    const entries = splitTar(await readFile(path));
    const blobs = entries.filter((e) => e.name.startsWith('blobs/sha256/') && e.body.length > 10_000);
    expect(blobs.length).toBeGreaterThanOrEqual(2);
    for (const bad of [blobs[0], blobs[blobs.length - 1]]) if (bad) bad.body[bad.body.length >> 1] = (bad.body[bad.body.length >> 1] ?? 0) ^ 0x20;
    await writeFile(join(site.media, 'flip-first.airlock'), joinTar(entries));
    const record = await expectRefused('flip-first.airlock', 'DIGEST_MISMATCH');
    expect(record.error?.message).toContain(blobs[0]?.name ?? '?');
    expect(await readdir(join(app.ctx.cas.dir, 'ingest')).catch(() => [])).toEqual([]);
  });

  it('refuses an upload cut off midway', async () => {
    const path = await site.bundle({ sequence: 61, name: 'cut' });
    const bytes = await readFile(path);
    const req = request(`${app.url}/api/v1/imports`, { method: 'POST', headers: { authorization: `Bearer ${app.token}`, 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } });
    req.on('error', () => undefined);
    req.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
    const id = await runningImport();
    req.destroy();
    const record = await waitImport(app.url, app.token, id);
    expect(record).toMatchObject({ state: 'failed', error: { code: 'UPLOAD_INCOMPLETE' } });
    expect((await status())[0]?.sequence).toBe(12);
    // a later good import succeeds
    expect((await importPath(app.url, app.token, 'cut.airlock')).state).toBe('applied');
  });

  it('answers 409 while another import runs, never interleaving', async () => {
    const path = await site.bundle({ sequence: 70, name: 'slow' });
    const bytes = await readFile(path);
    const req = request(`${app.url}/api/v1/imports`, { method: 'POST', headers: { authorization: `Bearer ${app.token}`, 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } });
    req.on('error', () => undefined);
    const answered = new Promise<string>((resolve) => req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve((JSON.parse(body) as { id: string }).id));
    }));
    req.write(bytes.subarray(0, 1024));
    const id = await runningImport();
    const second = await api<{ error: { code: string; id: string } }>(app.url, app.token, '/api/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"path":"first.airlock"}' });
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({ code: 'IMPORT_RUNNING', id });
    req.end(bytes.subarray(1024));
    expect(await answered).toBe(id); // the 202 comes once the body is in
    expect((await waitImport(app.url, app.token, id)).state).toBe('applied');
  });

  it('refuses paths outside --media: .., absolute, and symlinks leading out', async () => {
    await symlink('/etc/passwd', join(site.media, 'escape.airlock'));
    for (const path of ['../root.json', '/etc/passwd', 'escape.airlock', '../../../../etc/passwd']) {
      const res = await api<{ error: { code: string } }>(app.url, app.token, '/api/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path }) });
      expect(res.status, path).toBe(400);
      expect(res.body.error.code).toBe('PATH_REFUSED');
    }
    expect((await api(app.url, app.token, '/api/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"path":"nope.airlock"}' })).status).toBe(404);
  });

  it('refuses up front, with the figures, a bundle larger than the free space', async () => {
    const small = await start(site, { freeBytes: async () => 1000 });
    try {
      const res = await api<{ error: { code: string; message: string } }>(small.url, small.token, '/api/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"path":"first.airlock"}' });
      expect(res.status).toBe(507);
      expect(res.body.error.code).toBe('INSUFFICIENT_STORAGE');
      expect(res.body.error.message).toMatch(/the bundle is .+ KiB, 1000 B is free \(.+ missing\)/);
      expect(small.ctx.state.listImports()).toEqual([]);
    } finally {
      await small.close();
    }
  });
});
