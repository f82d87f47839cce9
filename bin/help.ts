/** Help at every level: the overview, a group's commands, one command's help; and finding what a user meant. */
import type { Command } from '../src/command.js';
import { closest } from './args.js';

const GROUPS: Record<string, string> = {
  keys: 'signing keys',
  trust: 'trust roots: which keys sign bundles',
  bundle: 'build, verify and inspect bundles',
  receipt: 'site receipts brought back from an appliance',
  fleet: 'headquarters: every site from its signed receipts, release waves, the fleet page',
  appliance: 'the on-site appliance, and its client commands',
};

export const GLOBAL_HELP = 'Every command takes --help, --json (one JSON document on stdout, also on failure) and --debug.';

/** The words that lead to commands: group names and one-word commands. */
export function firstWords(commands: readonly { path: string[] }[]): string[] {
  return [...new Set(commands.map((c) => c.path[0] ?? '')), 'help'];
}

export function isGroup(commands: readonly { path: string[] }[], word: string): boolean {
  return commands.some((c) => c.path.length > 1 && c.path[0] === word);
}

export function groupCommands<T extends { path: string[] }>(commands: readonly T[], group: string): T[] {
  return commands.filter((c) => c.path.length > 1 && c.path[0] === group);
}

function list(cmds: Command[]): string {
  const width = Math.max(...cmds.map((c) => c.path.join(' ').length)) + 2;
  return cmds.map((c) => `  airlock ${c.path.join(' ').padEnd(width)}${c.summary}`).join('\n');
}

export function overview(commands: Command[], version: string): string {
  return `airlock ${version}: signed, streaming sneakernet bundles for air-gapped Kubernetes sites

Usage: airlock COMMAND [options]
       airlock help [COMMAND…]     help on a group or a command (also: airlock COMMAND --help)

Commands:
${list(commands)}

${GLOBAL_HELP}
Exit codes: 0 success, 1 the work failed, 2 a usage error. Documentation: docs/cli.md in the package.
`;
}

export function groupHelp(commands: Command[], group: string): string {
  const cmds = groupCommands(commands, group);
  return `airlock ${group}: ${GROUPS[group] ?? ''}

Usage: airlock ${group} COMMAND [options]

Commands:
${list(cmds)}

Run \`airlock help ${group} COMMAND\` or \`airlock ${group} COMMAND --help\` for a command's options.
${GLOBAL_HELP}
`;
}

export function commandHelp(command: Command): string {
  return `${command.help}\n\n${GLOBAL_HELP}\n`;
}

export type Resolved<T = Command> =
  | { kind: 'command'; command: T; rest: string[] }
  | { kind: 'group'; group: string; rest: string[] }
  | { kind: 'unknown'; message: string; group?: string };

/** What the leading words of `words` name: a command (and the arguments after it), a group, or nothing. */
export function resolve<T extends { path: string[] }>(commands: readonly T[], words: string[]): Resolved<T> {
  const first = words[0] ?? '';
  const command = commands.find((c) => c.path.every((w, i) => words[i] === w));
  if (command) return { kind: 'command', command, rest: words.slice(command.path.length) };
  if (isGroup(commands, first)) {
    const sub = words[1];
    if (sub === undefined || sub.startsWith('-') || sub === 'help') return { kind: 'group', group: first, rest: words.slice(1) };
    const names = groupCommands(commands, first).map((c) => c.path[1] ?? '');
    const guess = closest(sub, names);
    return { kind: 'unknown', group: first, message: `unknown command "${first} ${sub}"${guess ? `; did you mean "${first} ${guess}"?` : ''}` };
  }
  const guess = closest(first, firstWords(commands));
  return { kind: 'unknown', message: `unknown command "${first}"${guess ? `; did you mean "${guess}"?` : ''}` };
}
