/**
 * Real chart sources for the chart tests: the fixture chart `web` (with its dependency `common` and a values
 * schema) packaged at 1.2.0 and 1.3.0 into a chart repository served over HTTP on 127.0.0.1 (index.yaml made by
 * `helm repo index`), the same archives pushed with `helm push` to a real docker-registry, and the images the
 * chart names (team/web:1.0 and :2.0) in that registry.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './exec.js';
import { skopeoPush, tagLayout, writeImage, writeLayer } from './images.js';
import { type TestRegistry, startRegistry } from './registry.js';

export const CHART_FIXTURES = fileURLToPath(new URL('../fixtures/charts', import.meta.url));

export interface ChartWorld {
  dir: string;
  /** Copies of the fixture charts (web's dependency already built into web/charts/). */
  charts: string;
  registry: TestRegistry;
  /** The chart repository's URL (index.yaml below it). */
  repoUrl: string;
  repoDir: string;
  /** helm with its own config, cache and data under dir. */
  helm(args: string[], cwd?: string): Promise<string>;
  stop(): Promise<void>;
}

/** A static file server on 127.0.0.1 (a chart repository is only files). */
export async function serveDir(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/')).replace(/^(\.\.[/\\])+/, '');
    readFile(join(dir, path)).then(
      (body) => res.writeHead(200, { 'content-type': path.endsWith('.yaml') ? 'application/yaml' : 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export async function makeChartWorld(): Promise<ChartWorld> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-charts-'));
  const env = { ...process.env, HELM_CONFIG_HOME: join(dir, 'helm/config'), HELM_CACHE_HOME: join(dir, 'helm/cache'), HELM_DATA_HOME: join(dir, 'helm/data') };
  const helm = (args: string[], cwd?: string) => run('helm', args, { env, ...(cwd ? { cwd } : {}) });
  const charts = join(dir, 'charts');
  await cp(CHART_FIXTURES, charts, { recursive: true });
  await helm(['dependency', 'build', join(charts, 'web')]);
  const repoDir = join(dir, 'repo');
  await helm(['package', join(charts, 'web'), '--destination', repoDir]);
  const next = join(dir, 'web-1.3.0');
  await cp(join(charts, 'web'), next, { recursive: true });
  await writeFile(join(next, 'Chart.yaml'), (await readFile(join(next, 'Chart.yaml'), 'utf8')).replace('version: 1.2.0', 'version: 1.3.0'));
  await helm(['package', next, '--destination', repoDir]);
  await helm(['repo', 'index', repoDir]);
  const server = await serveDir(repoDir);

  const registry = await startRegistry();
  const layout = join(dir, 'layout');
  const base = await writeLayer(layout, 2000);
  await tagLayout(layout, await writeImage(layout, [base, await writeLayer(layout, 900)]), 'team/web:1.0');
  await tagLayout(layout, await writeImage(layout, [base, await writeLayer(layout, 700)]), 'team/web:2.0');
  await skopeoPush(layout, 'team/web:1.0', `${registry.host}/team/web:1.0`);
  await skopeoPush(layout, 'team/web:2.0', `${registry.host}/team/web:2.0`);
  for (const v of ['1.2.0', '1.3.0']) await helm(['push', join(repoDir, `web-${v}.tgz`), `oci://${registry.host}/charts`, '--plain-http']);
  return {
    dir,
    charts,
    registry,
    repoUrl: server.url,
    repoDir,
    helm,
    async stop() {
      await server.close();
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
