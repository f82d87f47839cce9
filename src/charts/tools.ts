/**
 * The helm and kustomize binaries airlock runs (docs/adr/018-charts-and-tools.md): an explicit path
 * (`--helm`, `--kustomize`) or the first on PATH; kustomize falls back to `kubectl kustomize`. Looked up only when
 * a bundle needs one, so a missing binary is an error only there (TOOL_MISSING, saying what to install).
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { AirlockError } from '../errors.js';

export interface ToolPaths {
  helm?: string;
  kustomize?: string;
  /** The search path (default: the PATH environment variable). */
  path?: string;
}

export interface Tool {
  name: 'helm' | 'kustomize';
  /** The executable and the arguments that make it build (`kubectl` `kustomize`, `kustomize` `build`); helm: none. */
  file: string;
  prefix: string[];
}

export interface RunResult { stdout: string; stderr: string }

export class ToolError extends Error {
  constructor(message: string, readonly stderr: string, readonly exitCode: number | null) {
    super(message);
  }
}

async function executable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(() => true, () => false);
}

async function onPath(name: string, path: string): Promise<string | undefined> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const file = join(dir, name);
    if (await executable(file)) return file;
  }
  return undefined;
}

/** Runs a tool; a non-zero exit is a ToolError with its standard error (callers name the chart or path). */
export function runTool(tool: Tool, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(tool.file, [...tool.prefix, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 512 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const code = typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? ((err as { code?: number }).code ?? null) : null;
        reject(new ToolError(`${tool.name} ${args[0] ?? ''} failed: ${stderr.trim() || err.message}`, stderr, code));
      } else resolve({ stdout, stderr });
    });
  });
}

/** Finds helm and kustomize once each, on demand. */
export class Tools {
  private helmTool: Promise<Tool | undefined> | undefined;
  private kustomizeTool: Promise<Tool | undefined> | undefined;

  constructor(private readonly paths: ToolPaths = {}) {}

  /** From `--helm` and `--kustomize` (either may be absent: PATH then). */
  static fromFlags(helm: string | undefined, kustomize: string | undefined): Tools {
    return new Tools({ ...(helm ? { helm } : {}), ...(kustomize ? { kustomize } : {}) });
  }

  private get searchPath(): string {
    return this.paths.path ?? process.env.PATH ?? '';
  }

  private async explicit(name: 'helm' | 'kustomize', file: string): Promise<Tool> {
    if (!(await executable(file))) throw new AirlockError('TOOL_MISSING', `--${name} ${file} is not an executable file`);
    if (name === 'kustomize') return { name, file, prefix: /(^|\/)kubectl[^/]*$/.test(file) ? ['kustomize'] : ['build'] };
    return { name, file, prefix: [] };
  }

  private findHelm(): Promise<Tool | undefined> {
    this.helmTool ??= (async () => {
      if (this.paths.helm) return this.explicit('helm', this.paths.helm);
      const file = await onPath('helm', this.searchPath);
      return file ? { name: 'helm' as const, file, prefix: [] } : undefined;
    })();
    return this.helmTool;
  }

  private findKustomize(): Promise<Tool | undefined> {
    this.kustomizeTool ??= (async () => {
      if (this.paths.kustomize) return this.explicit('kustomize', this.paths.kustomize);
      const file = await onPath('kustomize', this.searchPath);
      if (file) return { name: 'kustomize' as const, file, prefix: ['build'] };
      const kubectl = await onPath('kubectl', this.searchPath);
      return kubectl ? { name: 'kustomize' as const, file: kubectl, prefix: ['kustomize'] } : undefined;
    })();
    return this.kustomizeTool;
  }

  /** helm, or TOOL_MISSING naming what needs it. */
  async helm(neededBy: string): Promise<Tool> {
    const tool = await this.findHelm();
    if (!tool) throw new AirlockError('TOOL_MISSING', `${neededBy} needs helm, which is not on PATH: install helm (v3.8 or later) or give its path with --helm`);
    return tool;
  }

  async kustomize(neededBy: string): Promise<Tool> {
    const tool = await this.findKustomize();
    if (!tool) throw new AirlockError('TOOL_MISSING', `${neededBy} needs kustomize, and neither kustomize nor kubectl is on PATH: install one or give its path with --kustomize`);
    return tool;
  }

  /** The versions found (null: not found or not runnable), for `airlock --version` and the status API. */
  async versions(): Promise<{ helm: string | null; kustomize: string | null }> {
    const helm = await this.findHelm().catch(() => undefined);
    const kustomize = await this.findKustomize().catch(() => undefined);
    const helmVersion = helm ? await runTool(helm, ['version', '--template', '{{.Version}}']).then((r) => r.stdout.trim(), () => null) : null;
    let kustomizeVersion: string | null = null;
    if (kustomize?.prefix[0] === 'kustomize') {
      // `kubectl version --client -o json` names the kustomize built into it.
      kustomizeVersion = await runTool({ ...kustomize, prefix: [] }, ['version', '--client', '-o', 'json']).then(
        (r) => {
          const v = (JSON.parse(r.stdout) as { kustomizeVersion?: string }).kustomizeVersion;
          return v ? `${v} (kubectl kustomize)` : null;
        },
        () => null,
      );
    } else if (kustomize) {
      kustomizeVersion = await runTool({ ...kustomize, prefix: [] }, ['version']).then((r) => r.stdout.trim().split('\n')[0] ?? null, () => null);
    }
    return { helm: helmVersion, kustomize: kustomizeVersion };
  }
}
