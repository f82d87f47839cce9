/**
 * The one `airlock` binary: finds the command, parses its flags, runs it, and turns the outcome into an exit
 * code (0 success, 1 the work failed, 2 usage error) with a one-line reason on stderr, and with --json a JSON error
 * object on stdout (docs/cli.md, docs/json.md).
 */
import type { Readable, Writable } from 'node:stream';
import { applianceCommands } from '../appliance/commands/index.js';
import { bundlerCommands } from '../bundler/commands/index.js';
import { fleetCommands } from '../bundler/commands/fleet-index.js';
import { API_VERSION, type Command, type CommandRef, UsageError } from '../src/command.js';
import { errorMessage, isAirlockError } from '../src/errors.js';
import { type Parsed, hint, parseCommandArgs } from './args.js';
import { completionCommand } from './completion.js';
import { commandHelp, groupHelp, overview, resolve } from './help.js';
import { VERSION, versionCommand, versionText } from './version.js';

/** Every command by its words; a command's modules load only when it runs (or for help that lists them all). */
export const commandRefs: CommandRef[] = [
  ...bundlerCommands,
  ...fleetCommands,
  ...applianceCommands,
  { path: versionCommand.path, load: () => Promise.resolve(versionCommand) },
  { path: ['completion'], load: () => Promise.resolve(completionCommand(loadCommands)) },
];

/** Every command, loaded (for the overview, group help and completion). */
export function loadCommands(): Promise<Command[]> {
  return Promise.all(commandRefs.map((r) => r.load()));
}

export interface MainIo {
  stdout: Writable;
  stderr: Writable;
  /** Where `-` reads from (default: process.stdin). */
  stdin?: Readable;
  interactive?: boolean;
  now?: () => Date;
}

export async function main(argv: string[], io: MainIo = { stdout: process.stdout, stderr: process.stderr, interactive: process.stderr.isTTY === true }): Promise<number> {
  const options = argv.slice(0, argv.includes('--') ? argv.indexOf('--') : undefined);
  const json = options.includes('--json');
  const debug = options.includes('--debug');
  const fail = (prefix: string, code: string, message: string, exit: number, footer = '') => {
    io.stderr.write(`${prefix}: ${message}${exit === 1 ? ` [${code}]` : ''}\n${footer}`);
    if (json) io.stdout.write(`${JSON.stringify({ apiVersion: API_VERSION, error: { code, message } }, null, 2)}\n`);
    return exit;
  };

  const first = argv[0];
  if (first === undefined) {
    io.stderr.write(overview(await loadCommands(), VERSION));
    return 2;
  }
  if (first === '--help' || first === '-h') return out(io, overview(await loadCommands(), VERSION));
  if (first === '--version') return out(io, await versionText());
  if (first === 'help') return help(io, await loadCommands(), argv.slice(1), fail);
  if (first.startsWith('-')) return fail('airlock', 'USAGE', `unknown option ${first} before the command${hint(first.replace(/^-+/, ''), ['help', 'version'], '--')}`, 2, 'Run `airlock --help` for the commands.\n');

  const found = resolve(commandRefs, argv);
  if (found.kind === 'unknown') {
    return fail(found.group ? `airlock ${found.group}` : 'airlock', 'USAGE', found.message, 2, `Run \`airlock ${found.group ? `${found.group} ` : ''}--help\` for the commands.\n`);
  }
  if (found.kind === 'group') {
    const next = found.rest[0];
    if (next === '--help' || next === '-h') return out(io, groupHelp(await loadCommands(), found.group));
    if (next === 'help') return help(io, await loadCommands(), [found.group, ...found.rest.slice(1)], fail);
    if (next === undefined) {
      io.stderr.write(`airlock ${found.group}: a command is missing\n\n${groupHelp(await loadCommands(), found.group)}`);
      if (json) io.stdout.write(`${JSON.stringify({ apiVersion: API_VERSION, error: { code: 'USAGE', message: `airlock ${found.group}: a command is missing` } }, null, 2)}\n`);
      return 2;
    }
    return fail(`airlock ${found.group}`, 'USAGE', `unknown option ${next} before the command; options go after it`, 2, `Run \`airlock ${found.group} --help\` for the commands.\n`);
  }

  const { rest } = found;
  const command = await found.command.load();
  const name = `airlock ${command.path.join(' ')}`;
  const usage = (message: string) => fail(name, 'USAGE', message, 2, `Run \`${name} --help\` for usage.\n`);
  let parsed: Parsed;
  try {
    parsed = parseCommandArgs(rest, command.options);
  } catch (err) {
    return usage(errorMessage(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return out(io, commandHelp(command));
  const allowed = command.positionals ?? [];
  if (positionals.length > allowed.length) {
    const extra = positionals[allowed.length] ?? '';
    const where = allowed.length ? `${command.path.join(' ')} takes ${allowed.map((p) => p.name).join(' ')}` : `${command.path.join(' ')} takes no arguments`;
    return usage(`unexpected argument "${extra}" (${where})`);
  }
  const missing = allowed.slice(positionals.length).find((p) => p.required);
  if (missing) return usage(`${missing.name} is missing`);

  try {
    const code = await command.run(values, positionals, {
      stdout: io.stdout,
      stderr: io.stderr,
      stdin: io.stdin ?? process.stdin,
      interactive: io.interactive === true,
      json: values.json === true,
      now: io.now ?? (() => new Date()),
    });
    return code ?? 0;
  } catch (err) {
    if (err instanceof UsageError || isAirlockError(err, 'USAGE')) return usage(errorMessage(err));
    const exit = fail(name, isAirlockError(err) ? err.code : 'ERROR', errorMessage(err), 1);
    if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return exit;
  }
}

function out(io: MainIo, text: string): number {
  io.stdout.write(text);
  return 0;
}

/** `airlock help [WORDS…]`: the overview, a group's commands, or one command's help. */
function help(io: MainIo, commands: Command[], words: string[], fail: (prefix: string, code: string, message: string, exit: number, footer?: string) => number): number {
  if (!words.length) return out(io, overview(commands, VERSION));
  const found = resolve(commands, words);
  if (found.kind === 'unknown') return fail('airlock help', 'USAGE', found.message, 2, 'Run `airlock --help` for the commands.\n');
  if (found.kind === 'group') {
    const sub = found.rest.find((w) => w !== 'help' && !w.startsWith('-'));
    if (sub === undefined) return out(io, groupHelp(commands, found.group));
    return help(io, commands, [found.group, sub], fail);
  }
  return out(io, commandHelp(found.command));
}
