import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { emitYaml } from '../../src/yaml-emit.js';
import { type Command, UsageError, stringOpt, writeJson } from '../../src/command.js';
import { AirlockError } from '../../src/errors.js';
import { type DesiredObject, groupOf } from '../../src/kube/desired.js';
import { CONTAINER_FIELDS, podSpecOf } from '../../src/manifests/images.js';
import type { KubeObject } from '../../src/manifests/documents.js';
import type { RenderAccount } from '../../src/render/render.js';
import { parseSiteFile } from '../../src/site/site-file.js';
import { loadTrustRoot, readTrustRootFile } from '../../keys/trust-root.js';
import { chartExpander } from '../../src/charts/expand.js';
import { Tools } from '../../src/charts/tools.js';

export const render: Command = {
  path: ['render'],
  summary: 'show, per cluster of a site file, exactly the objects a bundle will apply there',
  help: `Usage: airlock render BUNDLE --site site.yaml [--cluster NAME] [--trust root.json] [-o DIR]
                      [--helm PATH] [--kustomize PATH] [--json]

Renders the bundle for each cluster of the site file (or only --cluster NAME) with the same pure
function the appliance runs: each source placed where its placement.clusterSelector matches the
cluster's labels merged onto the site's, values substituted (spec values, then matching overrides
in order, then the site's, then the cluster's), then each matching override's patches and images.
Charts are rendered with helm template and Kustomize sources with kustomize build first, for each
cluster, with those values (docs/adr/018-charts-and-tools.md).
Objects carry the marks the site adds (owner, site and cluster labels, bundle root annotation);
images point at the site file's registryHost (left as the bundle names them when it has none).

With --trust the bundle's signatures and every byte are verified first; without it the bundle is
only read, and the output says it was NOT verified.

Exits 1 when a cluster's render fails (a value with no default, a patch path that is absent, a
malformed selector, a value that would inject YAML structure), naming file, line, object and
what is wrong; the other clusters are still rendered. Warnings (an image override or a patch
target that matched nothing) go to standard error.

Options:
  --site FILE       the site file (clusters, labels, values, registryHost) (required)
  --cluster NAME    render only this cluster of the site
  --trust FILE      verify the bundle against this trust root (root.json) first
  -o, --output DIR  write DIR/CLUSTER/GROUP_KIND_NAMESPACE_NAME.yaml (namespace empty for
                    cluster-scoped objects), one file per object,
                    and DIR/CLUSTER/account.json, instead of printing the objects
  --helm PATH       the helm binary for charts (default: helm on PATH; needed only with charts)
  --kustomize PATH  kustomize, or kubectl (kubectl kustomize), for Kustomize sources (default: PATH)
  --json            print the objects, accounts and errors as one JSON document`,
  options: { site: { type: 'string' }, cluster: { type: 'string' }, trust: { type: 'string' }, output: { type: 'string', short: 'o' }, helm: { type: 'string' }, kustomize: { type: 'string' } },
  positionals: [{ name: 'BUNDLE', required: true }],
  async run(values, positionals, ctx) {
    const file = positionals[0];
    if (!file) throw new UsageError('the BUNDLE file is required');
    const sitePath = stringOpt(values, 'site', true);
    const only = stringOpt(values, 'cluster');
    const trustPath = stringOpt(values, 'trust');
    const outDir = stringOpt(values, 'output');
    const expandSources = chartExpander(Tools.fromFlags(stringOpt(values, 'helm'), stringOpt(values, 'kustomize')));
    const siteText = await readFile(sitePath, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new AirlockError('SITE_INVALID', `cannot read the site file ${sitePath}: ${err.code ?? err.message}`);
    });
    const site = parseSiteFile(siteText, sitePath);
    const clusters = only ? site.clusters.filter((c) => c.name === only) : site.clusters;
    if (!clusters.length) throw new UsageError(`the site ${site.name} has no cluster "${only ?? ''}" (it has ${site.clusters.map((c) => c.name).join(', ')})`);
    const trust = trustPath
      ? loadTrustRoot(await readTrustRootFile(trustPath), ctx.now(), trustPath)
      : undefined;
    // Loaded here, not at start-up: it pulls in isomorphic-git (~0.3 s), which every other command would pay for.
    const { loadBundleForRender, renderBundleForCluster } = await import('../render-bundle.js');
    const bundle = await loadBundleForRender(file, trust, ctx.now());
    if (!bundle.verified && !ctx.json) ctx.stderr.write(`warning: ${file} was NOT verified (give --trust root.json to check its signatures and every byte)\n`);
    const results: { cluster: string; ok: boolean; errors: string[]; account: RenderAccount; objects: DesiredObject[] }[] = [];
    for (const cluster of clusters) {
      const r = await renderBundleForCluster(bundle, site, cluster, { expandSources });
      if (r.ok && !site.registryHost) r.objects.forEach((o, i) => restoreImages(o.object, r.documents[i]?.object));
      results.push({ cluster: cluster.name, ok: r.ok, errors: r.errors, account: r.account, objects: r.objects });
    }
    const failed = results.filter((r) => !r.ok);
    if (ctx.json) {
      writeJson(ctx, {
        kind: 'Render',
        verified: bundle.verified,
        bundle: { name: bundle.statement.name, channel: bundle.statement.channel, sequence: bundle.statement.sequence, root: bundle.statement.root.digest },
        site: site.name,
        registryHost: site.registryHost ?? null,
        clusters: results.map((r) => ({ cluster: r.cluster, ok: r.ok, errors: r.errors, account: r.account, objects: r.objects.map((o) => o.object) })),
      });
    }
    for (const r of results) {
      for (const w of r.account.warnings) ctx.stderr.write(`warning: cluster ${r.cluster}: ${w}\n`);
      if (!r.ok) ctx.stderr.write(`error: the render for cluster ${r.cluster} failed; nothing of it would be applied:\n${r.errors.map((e) => `  ${e}\n`).join('')}`);
    }
    if (outDir) {
      for (const r of results.filter((x) => x.ok)) {
        const dir = join(outDir, r.cluster);
        await mkdir(dir, { recursive: true });
        for (const o of r.objects) await writeFile(join(dir, objectFileName(o.object)), emitYaml(o.object));
        await writeFile(join(dir, 'account.json'), `${JSON.stringify(r.account, null, 2)}\n`);
        if (!ctx.json) ctx.stdout.write(`cluster ${r.cluster}: ${r.objects.length} object(s) written to ${dir}\n`);
      }
    } else if (!ctx.json) {
      for (const r of results.filter((x) => x.ok)) {
        const placed = r.account.sources.filter((s) => s.placed).map((s) => `${s.kind} ${s.name}`);
        ctx.stdout.write(`# cluster ${r.cluster}: ${r.objects.length} object(s) from ${placed.length ? placed.join(', ') : 'no source'}\n`);
        ctx.stdout.write(r.objects.map((o) => `---\n${emitYaml(o.object)}`).join(''));
      }
    }
    return failed.length ? 1 : 0;
  },
};

/** One file per object, named so that no two objects of a cluster share it. */
export function objectFileName(o: KubeObject): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9.-]/g, '-');
  return `${safe(groupOf(o.apiVersion ?? '') || 'core')}_${safe(o.kind ?? '')}_${safe(o.metadata?.namespace ?? '')}_${safe(o.metadata?.name ?? '')}.yaml`;
}

/** Puts back the images as rendered (no site registry host to point them at). */
function restoreImages(target: KubeObject, rendered: KubeObject | undefined): void {
  const to = podSpecOf(target);
  const from = rendered ? podSpecOf(rendered) : undefined;
  if (!to || !from) return;
  for (const field of CONTAINER_FIELDS) {
    const a = to[field];
    const b = from[field];
    if (!Array.isArray(a) || !Array.isArray(b)) continue;
    a.forEach((c: { image?: unknown }, i) => {
      const original = (b[i] as { image?: unknown } | undefined)?.image;
      if (original !== undefined) c.image = original;
    });
  }
}
