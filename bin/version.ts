/** `airlock version`: the package's version, and the runtime that runs it (a report from the field says both). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, writeJson } from '../src/command.js';
import { Tools } from '../src/charts/tools.js';

/** The version in the package.json above this file, whether it runs from source, from dist/ or installed. */
export const VERSION: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();

/** `airlock 0.1.0 (node v20.… --initial-old-space-size=128)`: with the flags Node runs with (ADR 008). */
export function versionLine(): string {
  return `airlock ${VERSION} (node ${process.version}${process.execArgv.length ? ` ${process.execArgv.join(' ')}` : ''})\n`;
}

/** The version line, then the helm and kustomize found (docs/adr/018-charts-and-tools.md). */
export async function versionText(tools: Tools = new Tools()): Promise<string> {
  const v = await tools.versions();
  const missing = (what: string) => `not found (needed only for bundles with ${what})`;
  return `${versionLine()}helm ${v.helm ?? missing('charts')}\nkustomize ${v.kustomize ?? missing('Kustomize overlays')}\n`;
}

export const versionCommand: Command = {
  path: ['version'],
  summary: 'print the version of airlock and of the Node.js running it',
  help: `Usage: airlock version [--json]

Prints airlock's version, the Node.js version and the flags Node runs with, then the helm and kustomize
found on PATH (kustomize, else the one built into kubectl) that charts and Kustomize overlays use
(the same as airlock --version).

Options:
  --json   print {"apiVersion", "version", "node", "nodeOptions", "platform", "arch", "tools": {"helm", "kustomize"}}
           (a tool not found is null)`,
  options: {},
  async run(_values, _positionals, ctx) {
    if (ctx.json) writeJson(ctx, { version: VERSION, node: process.version, nodeOptions: process.execArgv, platform: process.platform, arch: process.arch, tools: await new Tools().versions() });
    else ctx.stdout.write(await versionText());
  },
};
