/** The depot named on the command line, opened with the flags every depot command shares. */
import { type OptionValues, listOpt } from '../../src/command.js';
import { connectDepot } from '../../src/depot/connect.js';
import type { DepotRef } from '../../src/depot/layout.js';
import { loadDockerCredentials } from '../../src/registry/credentials.js';

/** Docker's config.json credentials, `--cacert` (repeatable), `--insecure` and `--plain-http` where the command has it. */
export async function connectDepotFromFlags(ref: DepotRef, values: OptionValues): ReturnType<typeof connectDepot> {
  return connectDepot({
    ref,
    credentials: await loadDockerCredentials(),
    cacerts: listOpt(values, 'cacert'),
    insecure: values.insecure === true,
    plainHttp: values['plain-http'] === true,
    env: process.env,
  });
}
