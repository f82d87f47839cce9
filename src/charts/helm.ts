/**
 * `helm template` of a chart archive with values files, as airlock runs it at build time and on site: tests are
 * skipped, CRDs included, nothing touches a cluster and no release Secret exists anywhere. Errors name the chart.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AirlockError } from '../errors.js';
import { type Tool, ToolError, runTool } from './tools.js';

export interface TemplateRequest {
  /** The chart archive (.tgz) bytes. */
  archive: Buffer;
  release: string;
  namespace: string;
  /** Values files in order, as text (later ones win, as with `helm -f a -f b`). */
  values: string[];
  /** Names the chart in errors: `chart web (airlock.yaml:12)`. */
  label: string;
  /** Where scratch files go (default: the system's temporary directory). */
  tmp?: string;
}

/** The rendered YAML, or CHART_FAILED with helm's own words (template error, values.schema.json failure). */
export async function helmTemplate(helm: Tool, req: TemplateRequest): Promise<string> {
  const dir = await mkdtemp(join(req.tmp ?? tmpdir(), 'airlock-helm-'));
  try {
    const chart = join(dir, 'chart.tgz');
    await writeFile(chart, req.archive);
    const args = ['template', req.release, chart, '--namespace', req.namespace, '--skip-tests', '--include-crds'];
    for (const [i, text] of req.values.entries()) {
      const file = join(dir, `values-${i}.yaml`);
      await writeFile(file, text);
      args.push('--values', file);
    }
    const env = { ...process.env, HELM_CACHE_HOME: join(dir, 'cache'), HELM_CONFIG_HOME: join(dir, 'config'), HELM_DATA_HOME: join(dir, 'data') };
    try {
      return (await runTool(helm, args, { cwd: dir, env })).stdout;
    } catch (err) {
      if (!(err instanceof ToolError)) throw err;
      const words = helmWords(err.stderr.replaceAll(dir, '.')) || err.message;
      const what = /schema/i.test(words) ? 'its values do not pass values.schema.json' : 'helm template failed';
      throw new AirlockError('CHART_FAILED', `${req.label}: ${what}: ${words}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** helm's error on one line, without its "Error:" prefix and its hint about --debug. */
function helmWords(stderr: string): string {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('Use --debug'))
    .join(' ')
    .replace(/^Error: /, '');
}

/** Chart.yaml of an archive, as helm reads it (`helm show chart`). */
export async function chartMetadata(helm: Tool, archive: Buffer, label: string, tmp?: string): Promise<string> {
  const dir = await mkdtemp(join(tmp ?? tmpdir(), 'airlock-helm-'));
  try {
    const chart = join(dir, 'chart.tgz');
    await writeFile(chart, archive);
    return (await runTool(helm, ['show', 'chart', chart])).stdout;
  } catch (err) {
    if (err instanceof ToolError) throw new AirlockError('CHART_FAILED', `${label}: not a readable Helm chart archive: ${helmWords(err.stderr.replaceAll(dir, '.'))}`);
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `${` in rendered output is text the chart meant, not an airlock value: escaped so the pure render keeps it. */
export function escapeReferences(text: string): string {
  return text.replaceAll('${', () => '$${'); // a function: in a replacement string, "$$" is one "$"
}
