/**
 * How to reach each registry: the proxy settings of the environment, extra CAs and `--insecure` for every registry
 * (command-line flags), and per-registry settings (the spec's `registries:`), merged into one transport per
 * distinct setting. A registry with its own `cacert` or `insecure` is spoken to over HTTPS even on loopback.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AirlockError } from '../errors.js';
import { type ProxySettings, proxySettingsFromEnv } from './proxy.js';
import { RegistryTransport } from './transport.js';

export interface RegistrySettings {
  /** true: plain HTTP; false: HTTPS even for a loopback host. */
  plainHttp?: boolean;
  /** A PEM file of CA certificates to trust for this registry (relative to `baseDir`). */
  cacert?: string;
  /** Skip TLS verification for this registry. */
  insecure?: boolean;
}

export interface AccessOptions {
  /** PEM files trusted for every registry (`--cacert`). */
  cacerts?: string[];
  /** Skip TLS verification for every registry (`--insecure`). */
  insecure?: boolean;
  /** Read for HTTPS_PROXY, HTTP_PROXY and NO_PROXY. */
  env?: NodeJS.ProcessEnv;
  registries?: Record<string, RegistrySettings>;
  /** Where per-registry `cacert` paths are relative to (the spec's directory). */
  baseDir?: string;
  /** Names the per-registry settings in errors ("airlock.yaml"). */
  settingsOrigin?: string;
}

export class RegistryAccess {
  private readonly transports = new Map<string, RegistryTransport>();

  private constructor(
    private readonly proxy: ProxySettings,
    private readonly globalCa: Buffer[],
    private readonly insecure: boolean,
    private readonly registries: Record<string, RegistrySettings & { ca?: Buffer }>,
  ) {}

  static async load(opts: AccessOptions = {}): Promise<RegistryAccess> {
    const proxy = proxySettingsFromEnv(opts.env ?? {});
    const globalCa = await Promise.all((opts.cacerts ?? []).map((file) => readCa(file, `--cacert ${file}`)));
    const registries: Record<string, RegistrySettings & { ca?: Buffer }> = {};
    for (const [host, settings] of Object.entries(opts.registries ?? {})) {
      const where = `${opts.settingsOrigin ? `${opts.settingsOrigin}: ` : ''}registries."${host}".cacert ${settings.cacert ?? ''}`;
      const ca = settings.cacert ? await readCa(resolve(opts.baseDir ?? '.', settings.cacert), where) : undefined;
      registries[host] = { ...settings, ...(ca ? { ca } : {}) };
    }
    return new RegistryAccess(proxy, globalCa, opts.insecure === true, registries);
  }

  /** true/false when settings decide the scheme, undefined for the default (plain HTTP only on loopback). */
  plainHttpFor(registry: string): boolean | undefined {
    const own = this.registries[registry];
    if (own?.plainHttp !== undefined) return own.plainHttp;
    if (own?.cacert || own?.insecure) return false;
    return undefined;
  }

  transportFor(registry: string): RegistryTransport {
    const own = this.registries[registry];
    const ca = [...this.globalCa, ...(own?.ca ? [own.ca] : [])];
    const insecure = this.insecure || own?.insecure === true;
    const key = `${insecure}|${own?.ca ? registry : ''}`;
    let transport = this.transports.get(key);
    if (!transport) {
      transport = new RegistryTransport({ proxy: this.proxy, insecure, ...(ca.length ? { ca } : {}) });
      this.transports.set(key, transport);
    }
    return transport;
  }

  close(): void {
    for (const t of this.transports.values()) t.close();
  }
}

async function readCa(file: string, what: string): Promise<Buffer> {
  let pem: Buffer;
  try {
    pem = await readFile(file);
  } catch (err) {
    throw new AirlockError('USAGE', `${what}: cannot read the CA file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new AirlockError('USAGE', `${what}: not a PEM certificate file (no "BEGIN CERTIFICATE" block)`);
  return pem;
}
