/**
 * Credentials from the Docker `config.json` the user already has (`docker login`, `skopeo login --authfile`,
 * `podman login` all write it). Only inline `auths` entries are read; credential helpers are not run.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface Credential {
  username: string;
  password: string;
}

export type CredentialLookup = (registryHost: string) => Credential | undefined;

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
}

/** Where Docker looks: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultDockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

export async function loadDockerCredentials(path = defaultDockerConfigPath()): Promise<CredentialLookup> {
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(path, 'utf8')) as DockerConfig;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return () => undefined;
    throw new Error(`cannot read Docker credentials from ${path}: ${(err as Error).message}`, { cause: err });
  }
  return credentialsFromConfig(config);
}

export function credentialsFromConfig(config: DockerConfig): CredentialLookup {
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
  return (registryHost) => table.get(normaliseAuthKey(registryHost));
}

/** `https://index.docker.io/v1/` and `docker.io` name the same registry; keys may carry a scheme and path. */
function normaliseAuthKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') return 'docker.io';
  return host;
}
