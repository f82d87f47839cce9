/** Opens the repository an `oci://HOST/REPO` names: Docker credentials, proxy settings, extra CAs, scheme. */
import { RegistryAccess } from '../registry/access.js';
import { RegistryClient } from '../registry/client.js';
import type { CredentialLookup } from '../registry/credentials.js';
import { RegistryRepository } from '../registry/repository.js';
import type { DepotRef } from './layout.js';

export interface ConnectOptions {
  ref: DepotRef;
  credentials?: CredentialLookup;
  cacerts?: string[];
  insecure?: boolean;
  /** Plain HTTP even for a host that is not loopback. */
  plainHttp?: boolean;
  env?: NodeJS.ProcessEnv;
}

export async function connectDepot(opts: ConnectOptions): Promise<{ repo: RegistryRepository; close: () => void }> {
  const access = await RegistryAccess.load({
    cacerts: opts.cacerts ?? [],
    insecure: opts.insecure === true,
    env: opts.env ?? {},
    // The depot is one registry, so --cacert and --insecure are its settings: they mean HTTPS, even on loopback.
    ...(opts.plainHttp
      ? { registries: { [opts.ref.registry]: { plainHttp: true } } }
      : opts.cacerts?.length || opts.insecure
        ? { registries: { [opts.ref.registry]: { plainHttp: false } } }
        : {}),
  });
  const plainHttp = access.plainHttpFor(opts.ref.registry);
  const client = new RegistryClient({
    registry: opts.ref.registry,
    ...(plainHttp !== undefined ? { plainHttp } : {}),
    transport: access.transportFor(opts.ref.registry),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
  });
  return { repo: new RegistryRepository(client, opts.ref.repository), close: () => access.close() };
}
