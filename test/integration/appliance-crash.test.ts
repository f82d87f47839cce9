/**
 * kill -9 of a real `airlock appliance serve` process at several moments of an import, then a restart: the state
 * is consistent (the interrupted import failed, or applied if it had been recorded), nothing is half-published
 * (registry tags and Git refs match the bundle in force), and importing again succeeds.
 */
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { airlock } from '../helpers/cli.js';
import { run } from '../helpers/exec.js';
import { type ChildAppliance, type ImportRecordView, type Site, api, importPath, makeSite, spawnAppliance } from '../helpers/appliance-fixture.js';

let site: Site;
let dataDir: string;
let sequence = 1;

async function inForce(app: ChildAppliance) {
  const token = await app.token();
  const { body } = await api<{ channels: { sequence: number; rootDigest: string }[] }>(app.url, token, '/api/v1/status');
  const tags = (await (await fetch(`${app.url}/v2/team/worker/tags/list`)).json()) as { tags: string[] };
  const head = (await run('git', ['ls-remote', `${app.url}/git/platform.git`, 'refs/heads/main'])).split('\t')[0];
  return { sequence: body.channels[0]?.sequence, tags: tags.tags, head };
}

async function nextBundle(): Promise<{ file: string; commit: string; seq: number }> {
  sequence += 1;
  const commit = await site.commit({ [`clusters/store/cm-${sequence}.yaml`]: `kind: ConfigMap\n# ${sequence}\n` }, `change ${sequence}`);
  const images = sequence % 2 === 0 ? ['team/app:1.0', 'team/worker:2.0'] : ['team/app:1.0', 'team/worker:1.0'];
  await site.bundle({ sequence, name: `b${sequence}`, images });
  return { file: `b${sequence}.airlock`, commit, seq: sequence };
}

beforeAll(async () => {
  site = await makeSite({ layerSize: 6 * 1024 * 1024 });
  dataDir = join(site.dir, 'data');
  const app = await spawnAppliance(site, dataDir);
  await site.bundle({ sequence: 1, name: 'b1' });
  expect((await importPath(app.url, await app.token(), 'b1.airlock')).state).toBe('applied');
  await app.stop();
});

describe('uploads larger than socket buffers', () => {
  it('stream through `airlock appliance import --wait` to applied', async () => {
    const app = await spawnAppliance(site, join(site.dir, 'upload-data'));
    try {
      const path = await site.bundle({ sequence: 1, name: 'upload' });
      expect((await stat(path)).size).toBeGreaterThan(12 * 1024 * 1024);
      await writeFile(join(site.dir, 'upload-token'), await app.token());
      const res = await airlock(['appliance', 'import', path, '--server', app.url, '--token-file', join(site.dir, 'upload-token'), '--wait']);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain('applied');
    } finally {
      await app.stop();
    }
    // SIGTERM is a clean shutdown: exit code 0, a last JSON log line
    expect(await app.exited).toBe(0);
    const lines = app.log().trim().split('\n');
    expect(JSON.parse(lines[lines.length - 1] ?? '{}')).toMatchObject({ level: 'info', msg: 'appliance stopped' });
    expect(lines.every((l) => typeof (JSON.parse(l) as { time?: string }).time === 'string')).toBe(true);
  });
});

/** Starts an appliance that SIGKILLs itself at `failpoint`, imports the next bundle into it, waits for the kill. */
async function crashDuringImport(failpoint: string) {
  const crashing = await spawnAppliance(site, dataDir, { AIRLOCK_FAILPOINT: failpoint });
  const before = await inForce(crashing);
  const next = await nextBundle();
  const started = await api<{ id: string }>(crashing.url, await crashing.token(), '/api/v1/imports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: next.file }) });
  expect(started.status).toBe(202);
  await crashing.exited;
  expect(crashing.child.signalCode).toBe('SIGKILL');
  return { before, next, id: started.body.id };
}

describe('kill -9 during an import', () => {
  it.each([
    ['mid-receive', { stage: 'receive' }],
    ['after-receive', {}],
    ['after-load-images', {}],
    ['after-git-mirror', {}],
  ])('at %s: the previous bundle stays in force and a re-import succeeds', async (failpoint, extra) => {
    const { before, next, id } = await crashDuringImport(failpoint);
    const app = await spawnAppliance(site, dataDir);
    try {
      const token = await app.token();
      const record = (await api<ImportRecordView>(app.url, token, `/api/v1/imports/${id}`)).body;
      expect(record).toMatchObject({ state: 'failed', error: { code: 'INTERRUPTED' }, ...extra });
      expect(await inForce(app)).toEqual(before);
      expect((await importPath(app.url, token, next.file)).state).toBe('applied');
      expect(await inForce(app)).toMatchObject({ sequence: next.seq, head: next.commit });
    } finally {
      await app.stop();
    }
  });

  it('after the record is written: the restart finishes publishing (Git refs move)', async () => {
    const { next, id } = await crashDuringImport('after-record');
    const app = await spawnAppliance(site, dataDir);
    try {
      const token = await app.token();
      expect((await api<ImportRecordView>(app.url, token, `/api/v1/imports/${id}`)).body.state).toBe('applied');
      expect(await inForce(app)).toMatchObject({ sequence: next.seq, head: next.commit, tags: next.seq % 2 === 0 ? ['2.0'] : ['1.0'] });
      expect(await importPath(app.url, token, next.file)).toMatchObject({ state: 'applied', idempotent: true });
    } finally {
      await app.stop();
    }
  });
});
