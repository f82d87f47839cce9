/**
 * A kubeconfig file (or the pod's service account) read as kubectl reads it, for the one context in force:
 * current-context → context (cluster, user, namespace) → cluster (server, CA file or data, insecure-skip-tls-verify,
 * tls-server-name) and user (token, tokenFile, client certificate and key as files or data, username/password,
 * impersonation, exec credential plugins). Relative file paths are resolved against the kubeconfig's directory
 * (an exec command only when it holds a `/`, as kubectl does). What the appliance cannot honour (legacy
 * `auth-provider` plugins, `proxy-url`, an interactive-only exec plugin) is refused here, at start, naming the field
 * and what to use instead. Files named are read later, by kube-auth.ts. ADR 023.
 */
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { AirlockError, errorMessage } from '../../src/errors.js';
import { loadYaml } from '../../src/yaml-load.js';

/** Bytes given inline (base64 in the kubeconfig, decoded here) or by a file read when the credentials are built. */
export type Material = { data: Buffer } | { file: string };

export interface ExecConfig {
  command: string;
  args: string[];
  env: { name: string; value: string }[];
  apiVersion: 'client.authentication.k8s.io/v1' | 'client.authentication.k8s.io/v1beta1';
  provideClusterInfo: boolean;
}

export interface KubeCluster {
  server: string;
  ca?: Material;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
}

export interface KubeUser {
  token?: string;
  tokenFile?: string;
  cert?: Material;
  key?: Material;
  username?: string;
  password?: string;
  exec?: ExecConfig;
  /** Impersonation headers (`as`, `as-groups`, `as-uid`, `as-user-extra`). */
  impersonate: [string, string][];
}

export interface KubeConfigData {
  /** The file read, or `in-cluster`. */
  source: string;
  context: string;
  namespace?: string;
  cluster: KubeCluster;
  user: KubeUser;
}

export const SERVICEACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const EXEC_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function usage(message: string): AirlockError {
  return new AirlockError('USAGE', message);
}

function str(o: Obj, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw usage(`${where}.${key} must be a string`);
  return v;
}

function named(list: unknown, kind: string, name: string): Obj | undefined {
  if (!Array.isArray(list)) return undefined;
  const entry = list.find((e): e is Obj => isObj(e) && e.name === name);
  return entry && isObj(entry[kind]) ? (entry[kind] as Obj) : entry ? {} : undefined;
}

function decoded(o: Obj, key: string, where: string): Buffer | undefined {
  const v = str(o, key, where);
  return v === undefined ? undefined : Buffer.from(v, 'base64');
}

/** Inline data wins over a file, as kubectl has it (it warns; here the file is simply not read). */
function material(o: Obj, dataKey: string, fileKey: string, where: string, dir: string): Material | undefined {
  const data = decoded(o, dataKey, where);
  if (data) return { data };
  const file = str(o, fileKey, where);
  return file === undefined ? undefined : { file: resolve(dir, file) };
}

/** Parses a kubeconfig file and picks out what its current context names. Throws USAGE naming what is wrong. */
export function loadKubeconfig(path: string): KubeConfigData {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usage(`it cannot be read (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`);
  }
  const { value, error } = loadYaml(text);
  if (error !== undefined) throw usage(`it is not YAML: ${error}`);
  return parseKubeconfig(value, path);
}

/** The current context of parsed kubeconfig data; `path` names the file (relative paths are resolved from its directory). */
export function parseKubeconfig(value: unknown, path: string): KubeConfigData {
  const dir = dirname(resolve(path));
  const doc = isObj(value) ? value : {};
  const context = typeof doc['current-context'] === 'string' ? doc['current-context'] : '';
  const ctx = context ? named(doc.contexts, 'context', context) : undefined;
  if (!ctx) throw usage(`it names no current context${context ? ` (no context "${context}")` : ''}`);
  const clusterName = typeof ctx.cluster === 'string' ? ctx.cluster : '';
  const c = clusterName ? named(doc.clusters, 'cluster', clusterName) : undefined;
  const server = c && typeof c.server === 'string' ? c.server : '';
  if (!c || !server) throw usage('its current context names no cluster with a server');
  const userName = typeof ctx.user === 'string' ? ctx.user : '';
  const u = userName ? named(doc.users, 'user', userName) : undefined;
  if (!u) throw usage('its current context names no user');
  return { source: path, context, namespace: typeof ctx.namespace === 'string' && ctx.namespace ? ctx.namespace : undefined, cluster: parseCluster(c, server, `clusters[${clusterName}].cluster`, dir), user: parseUser(u, `users[${userName}].user`, dir) };
}

function parseCluster(c: Obj, server: string, where: string, dir: string): KubeCluster {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw usage(`the server ${server} is not an http(s) URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw usage(`the server ${server} is not an http(s) URL`);
  if (str(c, 'proxy-url', where) !== undefined) {
    throw usage(`${where}.proxy-url is not supported: the appliance connects to the API server directly; give a server URL it reaches (a route, or a tunnel ending on the appliance's host) and remove proxy-url`);
  }
  const insecure = c['insecure-skip-tls-verify'] === true;
  const ca = material(c, 'certificate-authority-data', 'certificate-authority', where, dir);
  if (insecure && ca) throw usage(`${where}: insecure-skip-tls-verify together with a certificate authority is not allowed (as in kubectl): keep one of them`);
  return { server: server.replace(/\/+$/, ''), ca, insecureSkipTlsVerify: insecure, tlsServerName: str(c, 'tls-server-name', where) };
}

function parseUser(u: Obj, where: string, dir: string): KubeUser {
  if (u['auth-provider'] !== undefined && u['auth-provider'] !== null) {
    const name = isObj(u['auth-provider']) && typeof u['auth-provider'].name === 'string' ? ` (${u['auth-provider'].name})` : '';
    throw usage(`${where}.auth-provider${name} is not supported (legacy plugins): use an exec credential plugin (user.exec, e.g. kubelogin for OIDC, gke-gcloud-auth-plugin), a token or a client certificate`);
  }
  const tokenFile = str(u, 'tokenFile', where) ?? str(u, 'token-file', where);
  const user: KubeUser = {
    token: str(u, 'token', where),
    tokenFile: tokenFile === undefined ? undefined : resolve(dir, tokenFile),
    cert: material(u, 'client-certificate-data', 'client-certificate', where, dir),
    key: material(u, 'client-key-data', 'client-key', where, dir),
    username: str(u, 'username', where),
    password: str(u, 'password', where),
    impersonate: impersonation(u, where),
  };
  if (user.username !== undefined && (user.token !== undefined || user.tokenFile !== undefined)) throw usage(`${where}: username/password and a token cannot be given together (as in kubectl): keep one`);
  if (!user.cert !== !user.key) throw usage(`${where}: a client certificate needs its key and a key its certificate (client-certificate[-data] with client-key[-data])`);
  if (u.exec !== undefined && u.exec !== null) user.exec = parseExec(u.exec, `${where}.exec`, dir);
  return user;
}

function impersonation(u: Obj, where: string): [string, string][] {
  const out: [string, string][] = [];
  const as = str(u, 'as', where);
  if (as) out.push(['Impersonate-User', as]);
  const uid = str(u, 'as-uid', where);
  if (uid) out.push(['Impersonate-Uid', uid]);
  const groups = u['as-groups'];
  if (Array.isArray(groups)) for (const g of groups) out.push(['Impersonate-Group', String(g)]);
  const extra = u['as-user-extra'];
  if (isObj(extra)) for (const [k, vs] of Object.entries(extra)) for (const v of Array.isArray(vs) ? vs : [vs]) out.push([`Impersonate-Extra-${encodeURIComponent(k)}`, String(v)]);
  return out;
}

function parseExec(e: unknown, where: string, dir: string): ExecConfig {
  if (!isObj(e)) throw usage(`${where} must be a mapping`);
  const command = str(e, 'command', where);
  if (!command) throw usage(`${where}.command is missing`);
  const apiVersion = str(e, 'apiVersion', where) ?? '';
  if (!EXEC_VERSIONS.includes(apiVersion)) throw usage(`${where}.apiVersion ${apiVersion ? `"${apiVersion}"` : '(none)'} is not supported: use client.authentication.k8s.io/v1 or v1beta1 (v1alpha1 was removed from kubectl too)`);
  if (e.interactiveMode === 'Always') throw usage(`${where}.interactiveMode Always needs a terminal, and the appliance runs without one: use a plugin that runs with interactiveMode IfAvailable or Never`);
  const args = Array.isArray(e.args) ? e.args.map(String) : [];
  const env = Array.isArray(e.env) ? e.env.filter(isObj).map((v) => ({ name: String(v.name ?? ''), value: String(v.value ?? '') })) : [];
  // kubectl resolves the command against the kubeconfig's directory only when it is a path, not a name on PATH
  const resolved = command.includes('/') && !isAbsolute(command) ? join(dir, command) : command;
  return { command: resolved, args, env, apiVersion: apiVersion as ExecConfig['apiVersion'], provideClusterInfo: e.provideClusterInfo === true };
}

/**
 * The pod's service account, as client-go's InClusterConfig has it: `https://HOST:PORT` (an IPv6 host in brackets),
 * the token file (re-read as it rotates), `ca.crt`, and the namespace file. `dir` is injectable for tests.
 */
export function inClusterConfig(env: NodeJS.ProcessEnv, dir = SERVICEACCOUNT_DIR): KubeConfigData {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw usage('the in-cluster configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (set in every pod); outside a pod give --kubeconfig');
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    // no namespace file: objects without one go to "default"
  }
  return {
    source: 'in-cluster',
    context: 'in-cluster',
    namespace,
    cluster: { server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, ca: { file: join(dir, 'ca.crt') }, insecureSkipTlsVerify: false },
    user: { tokenFile: join(dir, 'token'), impersonate: [] },
  };
}
