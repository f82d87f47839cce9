/**
 * Uploads that end early are answered (issue 16 items 1 and 12): every refusal of a bundle sent with curl comes back
 * at once with its code and the import's id, whatever the body's size (0.97, 3.97, 64 MiB), and the connection is
 * drained or closed; `airlock appliance import --wait` exits 1 with the reason. The bundle in force sent again is
 * read through and verified: a tampered copy of it fails like `bundle verify`. curl and the CLI run with a time limit,
 * so a hang fails the test.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../keys/key-file.js';
import { type Site, importPath, makeSite, start, waitImport } from '../helpers/appliance-fixture.js';
import { BINARY } from '../helpers/cli.js';
import { joinTar, splitTar } from '../helpers/tar-edit.js';
import { curl, runTimed } from './appliance-walkaway-helpers.js';

let site: Site;
let app: Awaited<ReturnType<typeof start>>;
let inForce: string;
let tokenFile: string;

beforeAll(async () => {
  site = await makeSite();
  app = await start(site);
  tokenFile = join(site.dir, 'walkaway-token');
  await writeFile(tokenFile, `${app.token}\n`);
  inForce = await site.bundle({ sequence: 5, name: 'in-force' });
  expect((await importPath(app.url, app.token, 'in-force.airlock')).state).toBe('applied');
}, 60_000);

afterAll(async () => app?.close());

/** A copy of `bundle` with one byte of its largest layer (or of the archive's last blob) flipped. */
async function tampered(bundle: string, out: string, which: 'largest' | 'last' = 'largest'): Promise<string> {
  const entries = splitTar(await readFile(bundle));
  const blobs = entries.filter((e) => e.name.startsWith('blobs/sha256/'));
  const layer = which === 'last' ? blobs[blobs.length - 1] : blobs.sort((a, b) => b.body.length - a.body.length)[0];
  if (!layer) throw new Error('no blob in the bundle');
  layer.body[layer.body.length >> 1] = (layer.body[layer.body.length >> 1] ?? 0) ^ 0x40;
  const path = join(site.dir, out);
  await writeFile(path, joinTar(entries));
  return path;
}

/** `bytes` followed by random bytes up to `size`: the appliance refuses it long before the padding. */
async function padded(bytes: Buffer, size: number, name: string): Promise<string> {
  const path = join(site.dir, name);
  const pad = Buffer.alloc(Math.max(0, size - bytes.length), 0x5a);
  await writeFile(path, Buffer.concat([bytes, pad]));
  return path;
}

async function upload(file: string, extra: string[] = []) {
  return curl(['-H', `authorization: Bearer ${app.token}`, '-H', 'content-type: application/octet-stream', '--data-binary', `@${file}`, ...extra, `${app.url}/api/v1/imports`], 60_000);
}

const MiB = 1024 * 1024;

describe('early refusals answered with curl', () => {
  let cases: [string, () => Promise<Buffer>, string][] = [];
  beforeAll(async () => {
    const wrongKey = generateKey('not in the trust root');
    const badSig = await readFile(await site.bundle({ sequence: 6, name: 'bad-sig', keys: [wrongKey] }));
    const replay = await readFile(await site.bundle({ sequence: 4, name: 'replay' }));
    const bad = await readFile(await tampered(await site.bundle({ sequence: 7, name: 'layer' }), 'layer-flipped.airlock'));
    const good = await readFile(await site.bundle({ sequence: 8, name: 'malformed-base' }));
    const malformed = Buffer.from(good.subarray(0, 4096));
    malformed.fill(0x41, 3 * 512, 4 * 512); // an entry header of garbage after the signature
    cases = [
      ['a bad signature', async () => badSig, 'SIGNATURE_INVALID'],
      ['a replayed sequence', async () => replay, 'ROLLBACK'],
      ['a tampered layer', async () => bad, 'DIGEST_MISMATCH'],
      ['a malformed archive', async () => malformed, 'BUNDLE_CORRUPT'],
    ];
  }, 60_000);

  for (const size of [0.97 * MiB, 3.97 * MiB, 64 * MiB]) {
    it(`answers each refusal of a ${(size / MiB).toFixed(2)} MiB body at once, with its code and the import's id`, async () => {
      for (const [what, bytes, code] of cases) {
        const file = await padded(await bytes(), Math.round(size), `early-${size}.bin`);
        const answer = await upload(file);
        expect(answer.timedOut, `${what}: curl hung`).toBe(false);
        expect(answer.code, `${what}: ${answer.stderr}`).toBe(0);
        expect(answer.status, what).toBe(422);
        const error = answer.body.error as { code: string; id: string; message: string };
        expect(error.code, what).toBe(code);
        expect(answer.body.id).toMatch(/^imp-/);
        expect(answer.headers.toLowerCase()).toContain('connection: close');
        const record = await waitImport(app.url, app.token, String(answer.body.id));
        expect(record.state).toBe('failed');
        expect(record.error?.code).toBe(code);
      }
      // the appliance still serves and the bundle in force is untouched
      const status = (await (await fetch(`${app.url}/api/v1/status`, { headers: { authorization: `Bearer ${app.token}` } })).json()) as { channels: { sequence: number }[] };
      expect(status.channels[0]?.sequence).toBe(5);
    }, 120_000);
  }

  it('answers a chunked upload that is refused early too', async () => {
    const [, bytes, code] = cases[0] ?? ['', async () => Buffer.alloc(0), ''];
    const file = await padded(await bytes(), 8 * MiB, 'early-chunked.bin');
    const answer = await upload(file, ['-H', 'transfer-encoding: chunked']);
    expect(answer.timedOut).toBe(false);
    expect(answer.status).toBe(422);
    expect((answer.body.error as { code: string }).code).toBe(code);
  }, 60_000);
});

describe('the bundle in force, sent again', () => {
  it('is read through and verified: the same file is applied, idempotent', async () => {
    const answer = await upload(inForce);
    expect(answer.timedOut).toBe(false);
    expect(answer.status).toBe(202);
    const record = await waitImport(app.url, app.token, String(answer.body.id));
    expect(record).toMatchObject({ state: 'applied', idempotent: true });
    expect(record.progress.bytes).toBe((await readFile(inForce)).length);
  });

  it('a tampered copy fails as bundle verify fails, and the bundle in force stays', async () => {
    const copy = await tampered(inForce, 'in-force-tampered.airlock');
    const verify = await runTimed(BINARY, ['bundle', 'verify', copy, '--trust', site.trustPath]);
    expect(verify.code).not.toBe(0);
    const answer = await upload(copy);
    expect(answer.timedOut).toBe(false);
    expect(answer.status).toBe(422);
    expect((answer.body.error as { code: string }).code).toBe('DIGEST_MISMATCH');
    const record = await waitImport(app.url, app.token, String(answer.body.id));
    expect(record).toMatchObject({ state: 'failed', idempotent: false });
    const status = (await (await fetch(`${app.url}/api/v1/status`, { headers: { authorization: `Bearer ${app.token}` } })).json()) as { channels: { sequence: number }[] };
    expect(status.channels[0]?.sequence).toBe(5);
  });
});

describe('a tampered last blob', () => {
  it('is answered with its error every time, never "accepted" while its verdict is still out', async () => {
    // The body's end arrives with the last blob's bytes, before the reader has hashed them: the answer waits for
    // the verdict. Sent again and again, since the window this closes was a race.
    const bad = await tampered(await site.bundle({ sequence: 11, name: 'last-flip' }), 'last-flip.airlock', 'last');
    for (let i = 0; i < 15; i++) {
      const answer = await upload(bad);
      expect(answer.timedOut).toBe(false);
      expect(answer.status, `upload ${i + 1}`).toBe(422);
      expect((answer.body.error as { code: string }).code).toBe('DIGEST_MISMATCH');
    }
  }, 120_000);
});

describe('airlock appliance import --wait', () => {
  it('exits 1 with the reason when the appliance refuses the bundle early, and does not hang', async () => {
    const wrongKey = generateKey('not in the trust root either');
    const bad = await site.bundle({ sequence: 9, name: 'cli-bad-sig', keys: [wrongKey] });
    const file = await padded(await readFile(bad), 4 * MiB, 'cli-bad.airlock');
    const r = await runTimed(BINARY, ['appliance', 'import', file, '--server', app.url, '--token-file', tokenFile, '--wait'], 60_000);
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SIGNATURE_INVALID');
    expect(r.stderr).toMatch(/imp-\d+-[0-9a-f]+/);
  }, 90_000);

  it('without --wait also ends, with the reason', async () => {
    const bad = await tampered(await site.bundle({ sequence: 10, name: 'cli-flip' }), 'cli-flip.airlock');
    const r = await runTimed(BINARY, ['appliance', 'import', bad, '--server', app.url, '--token-file', tokenFile], 60_000);
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DIGEST_MISMATCH');
  }, 90_000);
});
