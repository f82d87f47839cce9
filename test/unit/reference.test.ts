import { describe, expect, it } from 'vitest';
import { formatReference, isLoopbackHost, parseReference } from '../../src/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }],
    ['nginx:1.25', { registry: 'docker.io', repository: 'library/nginx', tag: '1.25' }],
    ['bitnami/redis:7', { registry: 'docker.io', repository: 'bitnami/redis', tag: '7' }],
    ['index.docker.io/library/nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }],
    ['127.0.0.1:5000/team/app:1.2.3', { registry: '127.0.0.1:5000', repository: 'team/app', tag: '1.2.3' }],
    ['localhost/app', { registry: 'localhost', repository: 'app', tag: 'latest' }],
    ['registry.example.com/a/b/c:v1', { registry: 'registry.example.com', repository: 'a/b/c', tag: 'v1' }],
    [`nginx@${D}`, { registry: 'docker.io', repository: 'library/nginx', digest: D }],
    [`ghcr.io/o/app:1.0@${D}`, { registry: 'ghcr.io', repository: 'o/app', tag: '1.0', digest: D }],
    ['[::1]:5000/app:x', { registry: '[::1]:5000', repository: 'app', tag: 'x' }],
  ])('%s', (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  it.each([
    ['', 'empty'],
    ['Nginx', 'lowercase'],
    ['app:', 'not a valid tag'],
    ['app@sha256:abc', 'digest must be'],
    ['app:bad tag', 'not a valid tag'],
    ['reg.io//app', 'lowercase'],
  ])('rejects %j', (input, why) => {
    expect(() => parseReference(input)).toThrow(why);
  });

  it('formats back to the canonical string', () => {
    expect(formatReference(parseReference('nginx'))).toBe('docker.io/library/nginx:latest');
    expect(formatReference(parseReference(`127.0.0.1:5000/app:1@${D}`))).toBe(`127.0.0.1:5000/app:1@${D}`);
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1:5000', true],
    ['127.8.9.10', true],
    ['localhost:80', true],
    ['[::1]:5000', true],
    ['10.0.0.1:5000', false],
    ['registry.example.com', false],
    ['localhost.example.com', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});
