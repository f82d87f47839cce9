/**
 * Credentials from the Docker `config.json` the user already has (`docker login`, `skopeo login --authfile`,
 * `podman login` all write it), looked up the way docker does: a registry's entry in `credHelpers` runs
 * `docker-credential-NAME`; else an inline `auths` entry is used; else `credsStore` runs its helper. Helpers run
 * only when a registry asks for credentials, once per registry.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AirlockError } from '../errors.js';
import { type HelperRunner, runCredentialHelper } from './credential-helper.js';

export interface Credential {
  username: string;
  password: string;
}

export type CredentialLookup = (registryHost: string) => Credential | undefined | Promise<Credential | undefined>;

export interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** Where Docker looks: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultDockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

export async function loadDockerCredentials(path = defaultDockerConfigPath(), run?: HelperRunner): Promise<CredentialLookup> {
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(path, 'utf8')) as DockerConfig;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return () => undefined;
    throw new AirlockError('REGISTRY_UNAUTHORIZED', `cannot read Docker credentials from ${path}: ${(err as Error).message}; fix or move the file`, { cause: err });
  }
  return credentialsFromConfig(config, run);
}

export function credentialsFromConfig(config: DockerConfig, run?: HelperRunner): CredentialLookup {
  const table = new Map<string, Credential>();
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    const host = normaliseAuthKey(key);
    if (entry.username && entry.password) {
      table.set(host, { username: entry.username, password: entry.password });
    } else if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) table.set(host, { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) });
    }
  }
  const helpers = new Map<string, string>();
  for (const [key, name] of Object.entries(config.credHelpers ?? {})) if (name) helpers.set(normaliseAuthKey(key), name);
  const store = config.credsStore || undefined;
  const asked = new Map<string, Promise<Credential | undefined>>();
  return (registryHost) => {
    const host = normaliseAuthKey(registryHost);
    const helper = helpers.get(host) ?? (table.has(host) ? undefined : store);
    if (!helper) return table.get(host);
    let answer = asked.get(host);
    if (!answer) {
      answer = runCredentialHelper(helper, helperServerUrl(host), run);
      asked.set(host, answer);
    }
    return answer;
  };
}

/** What docker hands a helper: the host, except Docker Hub's historical URL. */
function helperServerUrl(host: string): string {
  return host === 'docker.io' ? 'https://index.docker.io/v1/' : host;
}

/** `https://index.docker.io/v1/` and `docker.io` name the same registry; keys may carry a scheme and path. */
function normaliseAuthKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') return 'docker.io';
  return host;
}
