import { type Command, stringOpt, writeJson } from '../../src/command.js';
import { generateKey, writeKeyFiles } from '../../keys/key-file.js';

export const keysGenerate: Command = {
  path: ['keys', 'generate'],
  summary: 'create an Ed25519 signing key pair',
  help: `Usage: airlock keys generate --out PREFIX [--name NAME] [--json]

Writes PREFIX.key (the secret, mode 0600) and PREFIX.pub (the public key) and prints the key id
(sha256 of the public key). Existing files are never overwritten.

Options:
  --out PREFIX   path prefix of the two files (required)
  --name NAME    a human name recorded with the key (shown in verification reports)
  --json         print {"keyid","secret","public"} as JSON

Example:
  airlock keys generate --out keys/release-1 --name "release team"`,
  options: { out: { type: 'string' }, name: { type: 'string' } },
  async run(values, _positionals, ctx) {
    const prefix = stringOpt(values, 'out', true);
    const key = generateKey(stringOpt(values, 'name'));
    const { secretPath, publicPath } = await writeKeyFiles(prefix, key);
    if (ctx.json) writeJson(ctx, { keyid: key.keyid, secret: secretPath, public: publicPath });
    else ctx.stdout.write(`${key.keyid}\n`);
  },
};
