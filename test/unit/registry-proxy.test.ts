import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../bundler/spec.js';
import { proxyFor, proxySettingsFromEnv } from '../../src/registry/proxy.js';

const via = (target: string, env: NodeJS.ProcessEnv) => proxyFor(new URL(target), proxySettingsFromEnv(env))?.href;

describe('proxy selection from the environment', () => {
  const P = 'http://proxy.example:3128/';

  it('uses HTTPS_PROXY for https and HTTP_PROXY for http, upper case before lower case', () => {
    expect(via('https://reg.example/v2/', { HTTPS_PROXY: 'proxy.example:3128' })).toBe(P);
    expect(via('http://reg.example/v2/', { HTTPS_PROXY: P })).toBeUndefined();
    expect(via('http://reg.example/v2/', { http_proxy: P })).toBe(P);
    expect(via('https://reg.example/v2/', { HTTPS_PROXY: P, https_proxy: 'http://other:1/' })).toBe(P);
    expect(via('https://reg.example/v2/', {})).toBeUndefined();
  });

  it('never proxies loopback, as Go (skopeo, docker) does', () => {
    for (const host of ['127.0.0.1:5000', 'localhost:5000', '[::1]:5000', '127.3.4.5', 'reg.localhost']) {
      expect(via(`https://${host}/v2/`, { HTTPS_PROXY: P })).toBeUndefined();
    }
  });

  it('reads NO_PROXY: names with their sub-domains, leading dots, *, ports, IPs and IPv4 CIDR blocks', () => {
    const env = (NO_PROXY: string) => ({ HTTPS_PROXY: P, NO_PROXY });
    expect(via('https://reg.example/v2/', env('eg.example'))).toBe(P); // on label boundaries only
    expect(via('https://reg.example/v2/', env('reg.example'))).toBeUndefined();
    expect(via('https://a.reg.example/v2/', env('reg.example'))).toBeUndefined();
    expect(via('https://reg.example/v2/', env('.reg.example'))).toBe(P);
    expect(via('https://a.reg.example/v2/', env('.reg.example'))).toBeUndefined();
    expect(via('https://REG.example/v2/', env(' other.example , Reg.Example '))).toBeUndefined();
    expect(via('https://reg.example:5000/v2/', env('reg.example:5000'))).toBeUndefined();
    expect(via('https://reg.example:5001/v2/', env('reg.example:5000'))).toBe(P);
    expect(via('https://reg.example/v2/', env('reg.example:443'))).toBeUndefined();
    expect(via('https://10.1.2.3/v2/', env('10.0.0.0/8'))).toBeUndefined();
    expect(via('https://11.1.2.3/v2/', env('10.0.0.0/8'))).toBe(P);
    expect(via('https://10.1.2.3/v2/', env('10.1.2.3'))).toBeUndefined();
    expect(via('https://anything.example/v2/', env('*'))).toBeUndefined();
  });

  it('refuses a proxy URL it cannot use, naming the variable', () => {
    expect(() => proxySettingsFromEnv({ HTTPS_PROXY: 'socks5://proxy:1080' })).toThrow(/HTTPS_PROXY="socks5:\/\/proxy:1080" is not a proxy URL/);
  });
});

describe('spec registries: TLS settings', () => {
  const spec = (registries: string) =>
    parseSpec(`apiVersion: airlock.dev/v1\nkind: Bundle\nmetadata:\n  name: s\nimages:\n  - reg.example/app:1\nregistries:\n${registries}`, 'airlock.yaml');

  it('takes cacert, insecure and plainHttp per registry', () => {
    expect(spec('  reg.example: { cacert: ./ca.pem }\n  "10.0.0.1:5000": { insecure: true, plainHttp: false }\n').registries).toEqual({
      'reg.example': { cacert: './ca.pem' },
      '10.0.0.1:5000': { insecure: true, plainHttp: false },
    });
  });

  it('refuses TLS settings on a plain-HTTP registry and unknown fields, with the line', () => {
    expect(() => spec('  reg.example: { plainHttp: true, cacert: ca.pem }\n')).toThrow(/airlock\.yaml:8: registries\."reg\.example": plainHttp: true speaks no TLS/);
    expect(() => spec('  reg.example: { insecure: yes-please }\n')).toThrow(/airlock\.yaml:8: insecure must be true or false/);
    expect(() => spec('  reg.example: { certDir: /etc/certs }\n')).toThrow(/unknown field "certDir".*allowed: plainHttp, cacert, insecure/);
  });
});
