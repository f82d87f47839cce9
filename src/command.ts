/**
 * The shape of a CLI command, shared by the bundler's and the appliance's commands. Parsing happens once, in
 * `bin/`; commands receive plain values and a context carrying their streams and clock.
 */
import type { Writable } from 'node:stream';

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
}

export interface CommandContext {
  stdout: Writable;
  stderr: Writable;
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

/** Raised by commands for bad usage: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

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

export function intOpt(values: OptionValues, name: string): number | undefined {
  const text = stringOpt(values, name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new UsageError(`--${name} must be a whole number, not "${text}"`);
  return Number(text);
}

export function writeJson(ctx: CommandContext, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
