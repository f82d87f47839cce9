/**
 * `kustomize build` of a directory of a Git snapshot (docs/adr/018-charts-and-tools.md). The repository's files
 * are written to a scratch directory and built there; before that, every kustomization in it is read and a
 * reference that leaves the repository (`../../outside`, an absolute path) or fetches from the network (a URL, a
 * `github.com/…` remote base) is refused, naming the kustomization and the reference: what a site applies comes
 * from the signed snapshot only.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AirlockError, errorMessage } from '../errors.js';
import { type Tool, ToolError, runTool } from './tools.js';

export const KUSTOMIZATION_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

export interface TreeFile {
  path: string;
  content: Buffer;
}

function clean(path: string): string {
  return path.replace(/^\.?\/+/, '').replace(/\/+$/, '');
}

/** Whether `dir` (repository-relative) holds a kustomization among `files`. */
export function hasKustomization(files: { path: string }[], dir: string): boolean {
  const d = clean(dir);
  return files.some((f) => KUSTOMIZATION_NAMES.some((n) => f.path === (d ? `${d}/${n}` : n)));
}

/** Every path-like reference a kustomization makes (resources, bases, components, patches, generators' files…). */
function referencesOf(k: Record<string, unknown>): string[] {
  const out: string[] = [];
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  for (const field of ['resources', 'bases', 'components', 'crds', 'patchesStrategicMerge', 'configurations', 'generators', 'transformers', 'validators']) {
    // generators/transformers may also be inline objects; only the strings are paths.
    out.push(...strings(k[field]).filter((s) => !s.includes('\n')));
  }
  for (const field of ['patches', 'patchesJson6902', 'replacements']) {
    for (const p of Array.isArray(k[field]) ? (k[field] as unknown[]) : []) if (p && typeof p === 'object' && typeof (p as { path?: unknown }).path === 'string') out.push((p as { path: string }).path);
  }
  for (const field of ['configMapGenerator', 'secretGenerator']) {
    for (const g of Array.isArray(k[field]) ? (k[field] as Record<string, unknown>[]) : []) {
      for (const f of strings(g?.files)) out.push(f.includes('=') ? f.slice(f.indexOf('=') + 1) : f);
      out.push(...strings(g?.envs));
      if (typeof g?.env === 'string') out.push(g.env);
    }
  }
  const openapi = k.openapi as { path?: unknown } | undefined;
  if (typeof openapi?.path === 'string') out.push(openapi.path);
  return out;
}

/**
 * Refuses references outside the repository or to the network, in the kustomization of `dir` and every
 * kustomization it reaches (resources, bases and components that are directories); `label` names the source.
 */
export function checkKustomizations(files: TreeFile[], dir: string, label: string): void {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const queue = [posix.normalize(clean(dir) || '.')];
  const seen = new Set<string>();
  for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
    if (seen.has(d)) continue;
    seen.add(d);
    const file = KUSTOMIZATION_NAMES.map((n) => byPath.get(d === '.' ? n : `${d}/${n}`)).find((f) => f);
    if (!file) continue;
    let k: unknown;
    try {
      k = parseYaml(file.content.toString('utf8'));
    } catch (err) {
      throw new AirlockError('RENDER_FAILED', `${label}: ${file.path} is not valid YAML: ${errorMessage(err).split('\n')[0]}`);
    }
    if (!k || typeof k !== 'object') continue;
    if ((k as { helmCharts?: unknown }).helmCharts) throw new AirlockError('RENDER_FAILED', `${label}: ${file.path} uses helmCharts; list the chart under charts: in the bundle spec instead`);
    for (const ref of referencesOf(k as Record<string, unknown>)) {
      if (/^[a-z][a-z0-9+.-]*:\/\/|^git@|^github\.com\/|^gitlab\.com\/|^bitbucket\.org\/|\?ref=/i.test(ref)) {
        throw new AirlockError('RENDER_FAILED', `${label}: ${file.path} refers to the remote ${ref}; a site builds only from the signed snapshot, so put it in the repository`);
      }
      const target = posix.normalize(posix.join(d, ref));
      if (ref.startsWith('/') || target === '..' || target.startsWith('../')) {
        throw new AirlockError('RENDER_FAILED', `${label}: ${file.path} refers to ${ref}, which is outside its repository`);
      }
      queue.push(target.replace(/\/+$/, ''));
    }
  }
}

/** The built YAML of `dir` (repository-relative), or RENDER_FAILED with kustomize's own words. */
export async function kustomizeBuild(tool: Tool, files: TreeFile[], dir: string, label: string, tmp?: string): Promise<string> {
  checkKustomizations(files, dir, label);
  const work = await mkdtemp(join(tmp ?? tmpdir(), 'airlock-kustomize-'));
  try {
    const root = join(work, 'repo');
    for (const f of files) {
      const target = join(root, f.path);
      if (!target.startsWith(`${root}/`)) throw new AirlockError('RENDER_FAILED', `${label}: ${f.path} is outside its repository`);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, f.content);
    }
    const d = clean(dir);
    try {
      return (await runTool(tool, [d ? join(root, d) : root], { cwd: work })).stdout;
    } catch (err) {
      if (err instanceof ToolError) throw new AirlockError('RENDER_FAILED', `${label}: kustomize build ${d || '.'} failed: ${err.stderr.replace(/^Error: |^error: /, '').replaceAll(`${root}/`, '').trim().split('\n').join(' ')}`);
      throw err;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
