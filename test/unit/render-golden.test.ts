/**
 * Golden files: each directory of test/fixtures/render holds sources (files/, case.json) and a site file; the
 * render of every cluster must equal CLUSTER.golden.yaml (objects, then the account). UPDATE_GOLDEN=1 rewrites them.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { renderCluster } from '../../src/render/render.js';
import type { RenderSource } from '../../src/render/types.js';
import { parseSiteFile } from '../../src/site/site-file.js';

const ROOT = join(import.meta.dirname, '..', 'fixtures', 'render');

describe('render golden files', async () => {
  for (const name of (await readdir(ROOT)).sort()) {
    const dir = join(ROOT, name);
    const spec = JSON.parse(await readFile(join(dir, 'case.json'), 'utf8')) as { sources: (Omit<RenderSource, 'files'> & { files: string[] })[] };
    const sources: RenderSource[] = await Promise.all(
      spec.sources.map(async (s) => ({ ...s, files: await Promise.all(s.files.map(async (f) => ({ path: f, text: await readFile(join(dir, 'files', f), 'utf8') }))) })),
    );
    const site = parseSiteFile(await readFile(join(dir, 'site.yaml'), 'utf8'), 'site.yaml');
    for (const cluster of site.clusters) {
      it(`${name}: cluster ${cluster.name}`, async () => {
        const r = renderCluster(sources, site, cluster);
        const text = stringify({ ok: r.ok, errors: r.errors, objects: r.documents.map((d) => ({ origin: `${d.file}:${d.line}`, object: d.object })), account: r.account });
        const golden = join(dir, `${cluster.name}.golden.yaml`);
        if (process.env.UPDATE_GOLDEN) await writeFile(golden, text);
        expect(text).toBe(await readFile(golden, 'utf8'));
      });
    }
  }
});
