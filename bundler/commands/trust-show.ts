import { type Command, writeJson } from '../../src/command.js';
import { trustLifecycle } from '../../keys/rotation.js';
import { readTrustRoot, readTrustRootFile } from '../../keys/trust-root.js';

export const trustShow: Command = {
  path: ['trust', 'show'],
  summary: 'show a trust root: version, expiry, keys, thresholds',
  help: `Usage: airlock trust show root.json [--json]

Checks that root.json is signed by a threshold of its own root keys, then shows its version, its expiry with the
days left (a warning from 30 days before), and its root and release keys (key id, name) with their thresholds.

Exit code: 0 while the root is valid (also when it expires within 30 days: the warning goes to stderr), 1 when it
has expired (an appliance holding it serves on but refuses new bundles: TRUST_ROOT_EXPIRED) or is not validly
signed (TRUST_ROOT_INVALID), 2 for bad usage. So \`airlock trust show root.json >/dev/null\` works as a check.

--json prints {file, version, expires, daysLeft, state: ok|expiring|expired, warnings, roles: {root, release:
{threshold, keys: [{keyid, name}]}}}.`,
  options: {},
  positionals: [{ name: 'root.json', required: true }],
  async run(_values, positionals, ctx) {
    const file = positionals[0] ?? '';
    const text = await readTrustRootFile(file);
    const root = readTrustRoot(text, file);
    const life = trustLifecycle(root, ctx.now());
    const role = (name: 'root' | 'release') => ({
      threshold: root.roles[name].threshold,
      keys: root.roles[name].keyids.map((keyid) => ({ keyid, ...(root.keys[keyid]?.name ? { name: root.keys[keyid]?.name } : {}) })),
    });
    const roles = { root: role('root'), release: role('release') };
    if (ctx.json) {
      writeJson(ctx, { file, ...life, roles });
    } else {
      const days = life.daysLeft >= 0 ? `${life.daysLeft} day(s) left` : `${-life.daysLeft} day(s) ago`;
      const lines = [`${file}: trust root version ${root.version}, signatures valid`, `expires  ${root.expires} (${days}): ${life.state}`];
      for (const name of ['root', 'release'] as const) {
        lines.push(`${name} keys: ${roles[name].threshold} of ${roles[name].keys.length} must sign`);
        for (const k of roles[name].keys) lines.push(`  ${k.keyid}${k.name ? `  ${k.name}` : ''}`);
      }
      ctx.stdout.write(`${lines.join('\n')}\n`);
    }
    for (const w of life.warnings) ctx.stderr.write(`${life.state === 'expired' ? 'error' : 'warning'}: ${w}\n`);
    return life.state === 'expired' ? 1 : 0;
  },
};
