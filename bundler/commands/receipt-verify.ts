import { readFile } from 'node:fs/promises';
import { type Command, STDIO, UsageError, listOpt, writeJson } from '../../src/command.js';
import type { Readable } from 'node:stream';
import { AirlockError } from '../../src/errors.js';
import { readPublicKey } from '../../keys/key-file.js';
import { verifyReceipt } from '../../keys/receipt.js';

export const receiptVerify: Command = {
  path: ['receipt', 'verify'],
  summary: "check a site receipt's signature and show what the site holds",
  help: `Usage: airlock receipt verify RECEIPT.json|- --appliance-key SITE.pub [--appliance-key …] [--json]

Checks that one of the given appliance keys signed the receipt (airlock appliance receipt), then prints
per channel the bundle in force, its sequence, sync and health, and how many blobs and Git commits the
site holds. Exits 1 if the receipt was altered or signed by another key. RECEIPT - reads it from
standard input (airlock appliance receipt … | airlock receipt verify - …).

Options:
  --appliance-key FILE   an appliance's public key (its DATA/appliance.pub); repeatable
  --json                 print the verified receipt as JSON`,
  options: { 'appliance-key': { type: 'string', multiple: true } },
  positionals: [{ name: 'RECEIPT.json|-', required: true }],
  async run(values, positionals, ctx) {
    const file = positionals[0];
    if (!file) throw new UsageError('the RECEIPT file is required');
    const keyPaths = listOpt(values, 'appliance-key');
    if (!keyPaths.length) throw new UsageError('--appliance-key is required: the public key of the appliance that signed the receipt');
    const keys = await Promise.all(keyPaths.map(readPublicKey));
    const text = await (file === STDIO ? readStream(ctx.stdin) : readFile(file, 'utf8')).catch((err: NodeJS.ErrnoException) => {
      throw new AirlockError('NOT_FOUND', `cannot read ${file}: ${err.code ?? err.message}`);
    });
    const { receipt, signer } = verifyReceipt(text, keys, file);
    if (ctx.json) {
      writeJson(ctx, { verified: true, signer, ...receipt });
      return;
    }
    const lines = [`${file}: verified, signed by appliance ${signer} on ${receipt.created}`];
    for (const c of receipt.channels) lines.push(`  channel ${c.channel}: ${c.name} sequence ${c.sequence}, root ${c.root}, applied ${c.appliedAt}; sync ${c.sync}, health ${c.health}`);
    if (!receipt.channels.length) lines.push('  no bundle applied yet');
    lines.push(`  holds ${receipt.blobs.length} blob(s); git: ${receipt.git.map((g) => `${g.name} ${g.commits.length} commit(s)`).join(', ') || 'none'}`);
    ctx.stdout.write(`${lines.join('\n')}\n`);
  },
};

/** A small document from a stream (a receipt is a few MiB at most). */
async function readStream(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
