/**
 * A chart carried in a bundle is served by the appliance's registry as a Helm OCI chart: the real helm pulls it
 * (`helm pull oci://APPLIANCE/charts/web --version V --plain-http`), gets the very archive the repository served,
 * with its dependency vendored, and `helm template` renders from it on site.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../bundler/build.js';
import { parseSpec } from '../../bundler/spec.js';
import { type Site, importPath, makeSite, start } from '../helpers/appliance-fixture.js';
import { type ChartWorld, makeChartWorld } from '../helpers/charts.js';
import { airlock } from '../helpers/cli.js';
import { api } from '../helpers/appliance-fixture.js';

let world: ChartWorld;
let site: Site;
let app: Awaited<ReturnType<typeof start>>;

beforeAll(async () => {
  world = await makeChartWorld();
  site = await makeSite({ layerSize: 2000 });
  app = await start(site);
}, 120_000);

afterAll(async () => {
  await app?.close();
  await world?.stop();
});

describe('the appliance serves carried charts to helm', () => {
  it('helm pull and helm template work against the appliance registry', async () => {
    const text = `apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: charts\ncharts:\n  - name: web\n    repo: ${world.repoUrl}\n    chart: web\n    version: ^1.0\n    values:\n      image:\n        repository: ${world.registry.host}/team/web\n        tag: "1.0"\n`;
    const specFile = join(site.dir, 'charts.yaml');
    await writeFile(specFile, text);
    await buildBundle({ spec: parseSpec(text, specFile), keys: site.trust.release, out: join(site.media, 'charts.airlock'), sequence: 5 });
    const inspect = await airlock(['bundle', 'inspect', join(site.media, 'charts.airlock')]);
    expect(inspect.stdout).toContain(`charts (1):\n  web  web 1.3.0 (asked ^1.0)  served as charts/web:1.3.0  from ${world.repoUrl} web\n`);
    const imported = await importPath(app.url, app.token, 'charts.airlock');
    expect(imported).toMatchObject({ state: 'applied', error: null });

    const dest = await mkdtemp(join(world.dir, 'pulled-'));
    const host = new URL(app.url).host;
    await world.helm(['pull', `oci://${host}/charts/web`, '--version', '1.3.0', '--plain-http', '--destination', dest]);
    const pulled = await readFile(join(dest, 'web-1.3.0.tgz'));
    expect(pulled.equals(await readFile(join(world.repoDir, 'web-1.3.0.tgz')))).toBe(true);

    const rendered = await world.helm(['template', 'site', join(dest, 'web-1.3.0.tgz'), '--namespace', 'shop', '--set', 'replicaCount=2']);
    expect(rendered).toContain('name: site-common'); // the dependency travelled inside the archive
    expect(rendered).toContain('replicas: 2');
    // The status API says which helm and kustomize the appliance renders with.
    const status = await api<{ tools: { helm: string | null; kustomize: string | null } }>(app.url, app.token, '/api/v1/status');
    expect(status.body.tools.helm).toMatch(/^v4\./);
    expect(status.body.tools.kustomize).toMatch(/^v5\./);
    // helm show reads the chart's metadata straight from the registry too.
    expect(await world.helm(['show', 'chart', `oci://${host}/charts/web`, '--version', '1.3.0', '--plain-http'])).toContain('version: 1.3.0');
  });
});
