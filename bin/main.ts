/**
 * The one `airlock` binary: finds the command, parses its flags, runs it, and turns the outcome into an exit
 * code (0 success, 1 the work failed, 2 usage error) with a one-line reason on stderr.
 */
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { applianceCommands } from '../appliance/commands/index.js';
import { bundlerCommands } from '../bundler/commands/index.js';
import { type Command, type OptionValues, UsageError } from '../src/command.js';
import { errorMessage, isAirlockError } from '../src/errors.js';

export const commands: Command[] = [...bundlerCommands, ...applianceCommands];

export interface MainIo {
  stdout: Writable;
  stderr: Writable;
  interactive?: boolean;
  now?: () => Date;
}

const VERSION = '0.1.0';

export async function main(argv: string[], io: MainIo = { stdout: process.stdout, stderr: process.stderr, interactive: process.stderr.isTTY === true }): Promise<number> {
  const debug = argv.includes('--debug');
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    (argv.length === 0 ? io.stderr : io.stdout).write(overview());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version') {
    // The runtime too: a report from the field then says which Node ran it and with which flags (ADR 008).
    io.stdout.write(`airlock ${VERSION} (node ${process.version}${process.execArgv.length ? ` ${process.execArgv.join(' ')}` : ''})\n`);
    return 0;
  }
  const command = commands.find((c) => c.path.every((word, i) => argv[i] === word));
  if (!command) {
    const group = commands.filter((c) => c.path[0] === argv[0]);
    io.stderr.write(group.length ? `airlock ${argv[0]}: unknown or missing subcommand${argv[1] ? ` "${argv[1]}"` : ''}\n\n${list(group)}` : `airlock: unknown command "${argv[0]}"\n\n${overview()}`);
    return 2;
  }
  const args = argv.slice(command.path.length);
  let values: OptionValues;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args,
      options: { ...command.options, json: { type: 'boolean' }, debug: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values as OptionValues;
    positionals = parsed.positionals;
  } catch (err) {
    return usage(io, command, errorMessage(err));
  }
  if (values.help) {
    io.stdout.write(`${command.help}\n`);
    return 0;
  }
  const allowed = command.positionals ?? [];
  if (positionals.length > allowed.length) return usage(io, command, `unexpected argument "${positionals[allowed.length]}"`);
  const missing = allowed.slice(positionals.length).find((p) => p.required);
  if (missing) return usage(io, command, `${missing.name} is required`);

  try {
    const code = await command.run(values, positionals, {
      stdout: io.stdout,
      stderr: io.stderr,
      interactive: io.interactive === true,
      json: values.json === true,
      now: io.now ?? (() => new Date()),
    });
    return code ?? 0;
  } catch (err) {
    if (err instanceof UsageError || isAirlockError(err, 'USAGE')) return usage(io, command, errorMessage(err));
    const code = isAirlockError(err) ? ` [${err.code}]` : '';
    io.stderr.write(`airlock ${command.path.join(' ')}: ${errorMessage(err)}${code}\n`);
    if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

function usage(io: MainIo, command: Command, message: string): number {
  io.stderr.write(`airlock ${command.path.join(' ')}: ${message}\nRun \`airlock ${command.path.join(' ')} --help\` for usage.\n`);
  return 2;
}

function list(cmds: Command[]): string {
  return `${cmds.map((c) => `  airlock ${c.path.join(' ').padEnd(20)} ${c.summary}`).join('\n')}\n`;
}

function overview(): string {
  return `airlock ${VERSION}: signed, streaming sneakernet bundles for air-gapped Kubernetes sites

Usage: airlock COMMAND [options]   (every command takes --help, --json, --debug)

Commands:
${list(commands)}`;
}
