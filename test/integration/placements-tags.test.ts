/**
 * Tags belong to one channel (docs/adr/014): a bundle of another channel naming a `repository:tag` that a channel
 * holds is refused at its signed root, before any blob, naming the tag and its channel — in the embedded registry
 * (checked with skopeo) and with --registry (a real docker-registry). Once the owner drops the tag, it is free.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../helpers/exec.js';
import { type Site, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { skopeoDigest } from '../helpers/images.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';

let site: Site;
let registry: TestRegistry;

beforeAll(async () => {
  site = await makeSite();
  registry = await startRegistry();
});

afterAll(async () => {
  await registry?.stop();
});

const tagsIn = async (ref: string) => {
  const out = await run('skopeo', ['list-tags', '--tls-verify=false', `docker://${ref}`]).catch(() => '{"Tags":[]}');
  return (JSON.parse(out) as { Tags: string[] }).Tags;
};

describe('tags owned by one channel', () => {
  it('refuses another channel\'s bundle naming a held tag, before any blob, in /v2 and with --registry; frees it when the owner drops it', async () => {
    const app = await start(site, { registry: `http://${registry.host}/site` });
    const v2 = `127.0.0.1:${app.port}`;
    try {
      expect(await importPath(app.url, app.token, await site.bundle({ sequence: 1, name: 'stable-1', images: ['team/app:1.0'] }))).toMatchObject({ state: 'applied' });
      const appDigest = await skopeoDigest(`${v2}/team/app:1.0`);
      const blobsBefore = app.ctx.state.publishedBlobs().length;

      const refused = await importPath(app.url, app.token, await site.bundle({ sequence: 1, name: 'beta-1', channel: 'beta', images: ['team/worker:2.0', 'team/app:1.0'] }));
      expect(refused.state).toBe('failed');
      expect(refused.error?.code).toBe('TAG_OWNED');
      expect(refused.error?.message).toContain('team/app:1.0 belongs to channel stable');
      expect(refused.progress.bytes).toBeLessThan(20_000); // stopped at the root, long before the image layers
      // Nothing of beta's bundle is served or pushed: worker:2.0 is nowhere, app:1.0 is stable's.
      expect(app.ctx.state.publishedBlobs().length).toBe(blobsBefore);
      expect(await tagsIn(`${v2}/team/worker`)).toEqual([]);
      expect(await tagsIn(`${registry.host}/site/team/worker`)).toEqual([]);
      expect(await skopeoDigest(`${v2}/team/app:1.0`)).toBe(appDigest);
      expect(await skopeoDigest(`${registry.host}/site/team/app:1.0`)).toBe(appDigest);
      expect(app.ctx.state.status().map((c) => c.channel)).toEqual(['stable']);

      // The owner's own next bundle keeps the tag; once it drops it, another channel may take it.
      expect(await importPath(app.url, app.token, await site.bundle({ sequence: 2, name: 'stable-2', images: ['team/worker:1.0'] }))).toMatchObject({ state: 'applied' });
      expect(await importPath(app.url, app.token, await site.bundle({ sequence: 2, name: 'beta-2', channel: 'beta', images: ['team/app:1.0'] }))).toMatchObject({ state: 'applied' });
      expect(app.ctx.state.tagOwner('team/app', '1.0')).toBe('beta');
      expect(await skopeoDigest(`${registry.host}/site/team/app:1.0`)).toBe(appDigest);
    } finally {
      await app.close();
    }
  });
});
