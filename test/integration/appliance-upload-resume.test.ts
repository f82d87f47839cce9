/**
 * Resumable uploads: the import starts with the upload session and reads the pieces as they come; a piece cut
 * off mid-way leaves the session at the bytes received, a wrong offset is answered with the right one, and the
 * rest sent later completes the import. Damaged bytes still fail it. A session nobody resumes gives up.
 */
import { request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UploadSession } from '../../appliance/import/upload-session.js';
import { type Site, api, makeSite, start, waitImport } from '../helpers/appliance-fixture.js';

let site: Site;
let app: Awaited<ReturnType<typeof start>>;

beforeAll(async () => {
  site = await makeSite({ layerSize: 400_000 });
  app = await start(site);
});

afterAll(async () => {
  await app?.close();
});

interface UploadView {
  id: string;
  importId: string;
  offset: number;
  size: number;
}

const patch = (id: string, offset: number, body: Buffer) =>
  api<UploadView & { error?: { code: string } }>(app.url, app.token, `/api/v1/uploads/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'upload-offset': String(offset) }, body: body as unknown as BodyInit });

/** Sends `body` as a piece but drops the connection after `cut` bytes. */
function patchCutOff(id: string, offset: number, body: Buffer, cut: number): Promise<void> {
  return new Promise((resolve) => {
    const url = new URL(`${app.url}/api/v1/uploads/${id}`);
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'PATCH', headers: { authorization: `Bearer ${app.token}`, 'upload-offset': String(offset), 'content-length': String(body.length) } });
    req.on('error', () => resolve());
    req.write(body.subarray(0, cut), () => setTimeout(() => {
      req.destroy();
      resolve();
    }, 300));
  });
}

async function offsetOf(id: string): Promise<number> {
  return (await api<UploadView>(app.url, app.token, `/api/v1/uploads/${id}`)).body.offset;
}

describe('resumable uploads', () => {
  it('survive a dropped connection: the rest sent from the reported offset completes the import', async () => {
    const bytes = await readFile(await site.bundle({ sequence: 1 }));
    const created = await api<UploadView>(app.url, app.token, '/api/v1/uploads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ size: bytes.length }) });
    expect(created.status).toBe(201);
    const { id, importId } = created.body;

    const first = await patch(id, 0, bytes.subarray(0, 300_000));
    expect(first.body.offset).toBe(300_000);
    const wrong = await patch(id, 12, bytes.subarray(12, 100));
    expect(wrong.status).toBe(409);
    expect(wrong.body.offset).toBe(300_000);

    await patchCutOff(id, 300_000, bytes.subarray(300_000), 200_000);
    const resumeAt = await offsetOf(id);
    expect(resumeAt).toBeGreaterThan(300_000);
    expect(resumeAt).toBeLessThanOrEqual(500_000);
    expect((await api<{ state: string }>(app.url, app.token, `/api/v1/imports/${importId}`)).body.state).toBe('running');

    const rest = await patch(id, resumeAt, bytes.subarray(resumeAt));
    expect(rest.status).toBe(200);
    expect(await waitImport(app.url, app.token, importId)).toMatchObject({ state: 'applied', sequence: 1 });
    expect((await fetch(`${app.url}/v2/team/app/manifests/1.0`)).status).toBe(200);
  });

  it('still fail on damaged bytes, and the session is gone afterwards', async () => {
    const bytes = Buffer.from(await readFile(await site.bundle({ sequence: 2 })));
    bytes[bytes.length - 3000] = (bytes[bytes.length - 3000] ?? 0) ^ 0xff;
    const created = await api<UploadView>(app.url, app.token, '/api/v1/uploads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ size: bytes.length }) });
    await patch(created.body.id, 0, bytes.subarray(0, 200_000));
    const second = await patch(created.body.id, 200_000, bytes.subarray(200_000));
    expect(second.status).toBeGreaterThanOrEqual(400);
    const record = await waitImport(app.url, app.token, created.body.importId);
    expect(record.state).toBe('failed');
    expect((await api(app.url, app.token, `/api/v1/uploads/${created.body.id}`)).status).toBe(404);
    expect(app.ctx.state.status()[0]?.sequence).toBe(1);
  });

  it('give up when nobody resumes them', async () => {
    const session = new UploadSession('s', 10, 50);
    const reading = (async () => {
      for await (const chunk of session.source()) void chunk;
    })();
    await session.receive((async function* () {
      yield Buffer.alloc(4);
    })());
    await expect(reading).rejects.toMatchObject({ code: 'UPLOAD_INCOMPLETE', message: expect.stringContaining('stopped at 4 of 10 bytes') });
  });
});
