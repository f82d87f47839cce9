import { type Command, stringOpt, writeJson } from '../../src/command.js';
import { writeFileAtomic } from '../../src/fs-atomic.js';
import { CLIENT_HELP, CLIENT_OPTIONS, applianceClient } from './client.js';

export const applianceReceipt: Command = {
  path: ['appliance', 'receipt'],
  summary: "fetch the site receipt: what the appliance holds, signed by its key",
  help: `Usage: airlock appliance receipt --server URL --token-file F [-o RECEIPT.json] [--key-out SITE.pub] [--json]

Fetches GET /api/v1/receipt: per channel the bundle in force (root digest, sequence) and its health, every blob
digest and every Git commit the appliance holds, signed with the appliance's own key (made at its first start,
DATA/appliance.key). Carry it back to the connected side: it is the --base of the next delta bundle
(airlock bundle create --base RECEIPT.json --appliance-key SITE.pub) and the site's status report
(airlock receipt verify).

Options:
${CLIENT_HELP}
  -o, --out FILE     write the receipt to FILE (default, and with -: standard output)
  --key-out FILE     also write the appliance's public key (the same as DATA/appliance.pub) to FILE
  --json             with --out: print where the files went as JSON`,
  options: { ...CLIENT_OPTIONS, out: { type: 'string', short: 'o' }, 'key-out': { type: 'string' } },
  async run(values, _positionals, ctx) {
    const client = await applianceClient(values);
    const receipt = await client.getText('/api/v1/receipt');
    const keyOut = stringOpt(values, 'key-out');
    if (keyOut) await writeFileAtomic(keyOut, await client.getText('/api/v1/receipt/key'));
    const out = stringOpt(values, 'out');
    if (!out || out === '-') {
      ctx.stdout.write(receipt);
      return;
    }
    await writeFileAtomic(out, receipt);
    if (ctx.json) writeJson(ctx, { receipt: out, ...(keyOut ? { key: keyOut } : {}) });
    else ctx.stdout.write(`wrote ${out}${keyOut ? ` and ${keyOut}` : ''}\n`);
  },
};
