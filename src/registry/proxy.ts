/**
 * Proxy selection from the environment, the way skopeo and docker (Go's net/http) read it: `HTTPS_PROXY` for https
 * registries, `HTTP_PROXY` for plain-HTTP ones (lower-case names too, upper-case first), `NO_PROXY` for the
 * exceptions. The rule, explicit and tested:
 *   - loopback hosts (`localhost`, 127.0.0.0/8, ::1) are never proxied, as in Go: a proxy cannot reach them;
 *   - `NO_PROXY` is a comma-separated list of `*` (nothing is proxied), host names (`example.com` also matches
 *     `a.example.com`; `.example.com` only sub-domains), IP addresses, IPv4 CIDR blocks (`10.0.0.0/8`), each
 *     optionally with `:PORT`;
 *   - a proxy URL without a scheme is `http://`; `user:password@` in it is sent as `Proxy-Authorization: Basic`.
 */
import { isIP } from 'node:net';
import { AirlockError } from '../errors.js';

export interface ProxySettings {
  httpsProxy?: URL;
  httpProxy?: URL;
  noProxy: string[];
}

export function proxySettingsFromEnv(env: NodeJS.ProcessEnv): ProxySettings {
  const pick = (...names: string[]) => names.map((n) => env[n]).find((v) => v !== undefined && v.trim() !== '');
  const httpsProxy = pick('HTTPS_PROXY', 'https_proxy');
  const httpProxy = pick('HTTP_PROXY', 'http_proxy');
  const noProxy = (pick('NO_PROXY', 'no_proxy') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  return {
    ...(httpsProxy ? { httpsProxy: parseProxyUrl(httpsProxy, 'HTTPS_PROXY') } : {}),
    ...(httpProxy ? { httpProxy: parseProxyUrl(httpProxy, 'HTTP_PROXY') } : {}),
    noProxy,
  };
}

function parseProxyUrl(value: string, name: string): URL {
  try {
    const url = new URL(value.includes('://') ? value : `http://${value}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported scheme ${url.protocol}`);
    return url;
  } catch (err) {
    throw new AirlockError('USAGE', `${name}="${value}" is not a proxy URL like http://proxy.example:3128 (${(err as Error).message})`);
  }
}

/** The proxy to use for `target`, or undefined to connect directly. */
export function proxyFor(target: URL, settings: ProxySettings): URL | undefined {
  const proxy = target.protocol === 'https:' ? settings.httpsProxy : settings.httpProxy;
  if (!proxy) return undefined;
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  if (isLoopback(host)) return undefined;
  if (settings.noProxy.some((entry) => noProxyMatches(entry, host, port))) return undefined;
  return proxy;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

function noProxyMatches(entry: string, host: string, port: string): boolean {
  if (entry === '*') return true;
  let pattern = entry;
  let entryPort: string | undefined;
  const bracketed = /^\[(.*)\](?::(\d+))?$/.exec(pattern);
  if (bracketed) {
    pattern = bracketed[1] ?? '';
    entryPort = bracketed[2];
  } else if (isIP(pattern) !== 6) {
    const m = /^(.*):(\d+)$/.exec(pattern);
    if (m) {
      pattern = m[1] ?? '';
      entryPort = m[2];
    }
  }
  if (entryPort && entryPort !== port) return false;
  if (pattern.includes('/')) return inCidr(host, pattern);
  if (isIP(pattern)) return pattern === host;
  if (pattern.startsWith('*.')) pattern = pattern.slice(1);
  if (pattern.startsWith('.')) return host.endsWith(pattern);
  return host === pattern || host.endsWith(`.${pattern}`);
}

function inCidr(host: string, cidr: string): boolean {
  const [base = '', bitsText = ''] = cidr.split('/');
  const bits = Number(bitsText);
  if (isIP(host) !== 4 || isIP(base) !== 4 || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const toInt = (ip: string) => ip.split('.').reduce((n, part) => (n << 8) + Number(part), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (toInt(host) & mask) === (toInt(base) & mask);
}
