/**
 * The shape of a CLI command, shared by the bundler's and the appliance's commands. Parsing happens once, in
 * `bin/`; commands receive plain values and a context carrying their streams and clock.
 */
import type { Readable, Writable } from 'node:stream';
import { type Range, boundedDuration, boundedSize } from './units.js';

/** The version of every JSON document the CLI prints (docs/json.md). */
export const API_VERSION = 'airlock.dev/v1';

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
}

export interface CommandContext {
  stdout: Writable;
  stderr: Writable;
  /** Where `-` reads from. */
  stdin: Readable;
  /** stderr is a terminal: show progress bars. */
  interactive: boolean;
  json: boolean;
  now: () => Date;
}

export type OptionValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface Command {
  /** Words after `airlock`, e.g. ['bundle', 'create']. */
  path: string[];
  summary: string;
  /** Full help: synopsis, options, examples. */
  help: string;
  options: Record<string, OptionSpec>;
  /** Names of positional arguments, for help and arity checks. */
  positionals?: { name: string; required: boolean }[];
  run(values: OptionValues, positionals: string[], ctx: CommandContext): Promise<number | void>;
}

/**
 * A command by its words, loaded when it runs: `airlock render` does not load the modules of the appliance or the
 * fleet page (bin/main.ts). `test/unit/cli-docs.test.ts` checks each path against the loaded command's.
 */
export interface CommandRef {
  path: string[];
  load(): Promise<Command>;
}

/** Raised by commands for bad usage: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `-` in place of a file: standard input or output. */
export const STDIO = '-';

export function stringOpt(values: OptionValues, name: string, required: true): string;
export function stringOpt(values: OptionValues, name: string, required?: false): string | undefined;
export function stringOpt(values: OptionValues, name: string, required = false): string | undefined {
  const v = values[name];
  if (v === undefined || v === '') {
    if (required) throw new UsageError(`--${name} is required`);
    return undefined;
  }
  return String(v);
}

export function listOpt(values: OptionValues, name: string): string[] {
  const v = values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

export function intOpt(values: OptionValues, name: string, { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {}): number | undefined {
  const text = stringOpt(values, name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${text}"`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`--${name} ${text} is out of range: give a whole number from ${min} to ${max}`);
  return n;
}

/** Milliseconds of a duration option (or of `fallback`), within `range`. */
export function durationOpt(values: OptionValues, name: string, range: Range, fallback?: string): number | undefined {
  const text = stringOpt(values, name) ?? fallback;
  if (text === undefined) return undefined;
  const ms = boundedDuration(text, `--${name}`, range);
  if (ms instanceof Error) throw new UsageError(ms.message);
  return ms;
}

/** Bytes of a size option, within `range`. */
export function sizeOpt(values: OptionValues, name: string, range: Range): number | undefined {
  const text = stringOpt(values, name);
  if (text === undefined) return undefined;
  const n = boundedSize(text, `--${name}`, range);
  if (n instanceof Error) throw new UsageError(n.message);
  return n;
}

/** One JSON document on stdout, carrying the version of its shape (docs/json.md). */
export function writeJson(ctx: Pick<CommandContext, 'stdout'>, value: object): void {
  ctx.stdout.write(`${JSON.stringify({ apiVersion: API_VERSION, ...value }, null, 2)}\n`);
}
