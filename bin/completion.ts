/** `airlock completion bash|zsh|fish`: shell completion scripts generated from the command tree. */
import { type Command, UsageError } from '../src/command.js';
import { GLOBAL_OPTIONS } from './args.js';
import { firstWords, groupCommands, isGroup } from './help.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;

function flags(c: Command): string[] {
  return Object.entries({ ...c.options, ...GLOBAL_OPTIONS }).flatMap(([name, spec]) => [`--${name}`, ...(spec.short ? [`-${spec.short}`] : [])]);
}

function bash(commands: Command[]): string {
  const groups = [...new Set(commands.filter((c) => c.path.length > 1).map((c) => c.path[0] ?? ''))];
  const groupCases = groups.map((g) => `      ${g}) if [ "$pos" -eq 1 ]; then words='${groupCommands(commands, g).map((c) => c.path[1]).join(' ')} help'; else key="${g} $w2"; fi ;;`);
  const optionCases = commands.map((c) => `      '${c.path.join(' ')}') opts='${flags(c).join(' ')}'${c.path[0] === 'completion' ? `; [ "$pos" -eq 1 ] && words='${SHELLS.join(' ')}'` : ''} ;;`);
  return `# airlock completion for bash. Load it with: source <(airlock completion bash)
# or install it: airlock completion bash > /etc/bash_completion.d/airlock
_airlock() {
  local cur=\${COMP_WORDS[COMP_CWORD]} i=1 key='' words='' opts=''
  # \`airlock help X Y\` completes like \`airlock X Y\`
  if [ "\${COMP_WORDS[1]}" = help ] && [ "$COMP_CWORD" -gt 1 ]; then i=2; fi
  local pos=$((COMP_CWORD - i)) w1=\${COMP_WORDS[i]} w2=\${COMP_WORDS[i+1]}
  if [ "$pos" -eq 0 ]; then
    words='${firstWords(commands).join(' ')}'
  else
    case "$w1" in
${groupCases.join('\n')}
      *) key="$w1" ;;
    esac
    case "$key" in
${optionCases.join('\n')}
    esac
  fi
  if [[ "$cur" == -* ]]; then words="$opts"; fi
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -o default -F _airlock airlock
`;
}

function zsh(commands: Command[]): string {
  return `#compdef airlock
# airlock completion for zsh. Load it with: source <(airlock completion zsh)
# (it uses zsh's bash completion support, bashcompinit, which it loads)
autoload -U +X compinit && { (( $+functions[compdef] )) || compinit -u; }
autoload -U +X bashcompinit && bashcompinit
${bash(commands).split('\n').filter((l) => !l.startsWith('#')).join('\n')}`;
}

function fishQuote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function fish(commands: Command[]): string {
  const lines = ['# airlock completion for fish. Load it with: airlock completion fish | source', '# or install it: airlock completion fish > ~/.config/fish/completions/airlock.fish', 'complete -c airlock -f'];
  const groups = [...new Set(commands.filter((c) => c.path.length > 1).map((c) => c.path[0] ?? ''))];
  for (const word of firstWords(commands)) {
    const summary = isGroup(commands, word) ? `${groupCommands(commands, word).map((c) => c.path[1]).join(', ')}` : commands.find((c) => c.path[0] === word)?.summary ?? 'help on a command';
    lines.push(`complete -c airlock -n __fish_use_subcommand -a ${word} -d ${fishQuote(summary)}`);
  }
  for (const g of groups) {
    const subs = groupCommands(commands, g).map((c) => c.path[1] ?? '');
    for (const c of groupCommands(commands, g)) {
      lines.push(`complete -c airlock -n ${fishQuote(`__fish_seen_subcommand_from ${g}; and not __fish_seen_subcommand_from ${subs.join(' ')}`)} -a ${c.path[1]} -d ${fishQuote(c.summary)}`);
    }
  }
  for (const c of commands) {
    const cond = c.path.length > 1 ? `__fish_seen_subcommand_from ${c.path[0]}; and __fish_seen_subcommand_from ${c.path[1]}` : `__fish_seen_subcommand_from ${c.path[0]}`;
    for (const [name, spec] of Object.entries({ ...c.options, ...GLOBAL_OPTIONS })) {
      lines.push(`complete -c airlock -n ${fishQuote(cond)} -l ${name}${spec.short ? ` -s ${spec.short}` : ''}${spec.type === 'string' ? ' -r -F' : ''}`);
    }
    if (c.positionals?.length) lines.push(`complete -c airlock -n ${fishQuote(cond)} -F`);
  }
  lines.push(`complete -c airlock -n '__fish_seen_subcommand_from completion' -a ${fishQuote(SHELLS.join(' '))}`);
  return `${lines.join('\n')}\n`;
}

export function completionCommand(load: () => Promise<Command[]>): Command {
  return {
    path: ['completion'],
    summary: 'print a shell completion script (bash, zsh or fish)',
    help: `Usage: airlock completion bash|zsh|fish

Prints a script that completes airlock's commands and options in your shell.

  bash:  source <(airlock completion bash)      or save it as /etc/bash_completion.d/airlock
  zsh:   source <(airlock completion zsh)       (in ~/.zshrc)
  fish:  airlock completion fish | source       or save it as ~/.config/fish/completions/airlock.fish`,
    options: {},
    positionals: [{ name: 'SHELL', required: true }],
    async run(_values, positionals, ctx) {
      const shell = positionals[0] ?? '';
      if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`no completion for shell "${shell}": give one of ${SHELLS.join(', ')}`);
      const commands = await load();
      ctx.stdout.write(shell === 'bash' ? bash(commands) : shell === 'zsh' ? zsh(commands) : fish(commands));
    },
  };
}
