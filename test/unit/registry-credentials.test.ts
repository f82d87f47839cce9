import { describe, expect, it } from 'vitest';
import type { HelperRunner } from '../../src/registry/credential-helper.js';
import { credentialsFromConfig } from '../../src/registry/credentials.js';

/** A helper runner that records what it was asked (the programs themselves run in test/integration). */
function recorder(answer: (program: string, host: string) => { code: number; stdout: string; stderr?: string }) {
  const calls: string[] = [];
  const run: HelperRunner = async (program, args, input) => {
    calls.push(`${program} ${args.join(' ')} <${input}`);
    return { stderr: '', ...answer(program, input) };
  };
  return { calls, run };
}

const ok = (host: string) => ({ code: 0, stdout: JSON.stringify({ ServerURL: host, Username: 'u', Secret: `s-${host}` }) });

describe('Docker config lookup order', () => {
  it('credHelpers first, then auths, then credsStore; Docker Hub is asked as https://index.docker.io/v1/', async () => {
    const { calls, run } = recorder((_p, host) => ok(host));
    const lookup = credentialsFromConfig(
      { credHelpers: { 'gcr.example': 'gcr' }, auths: { 'gcr.example': { username: 'inline', password: 'x' }, 'reg.example': { username: 'inline', password: 'y' } }, credsStore: 'desktop' },
      run,
    );
    expect(await lookup('gcr.example')).toEqual({ username: 'u', password: 's-gcr.example' });
    expect(await lookup('reg.example')).toEqual({ username: 'inline', password: 'y' });
    expect(await lookup('docker.io')).toEqual({ username: 'u', password: 's-https://index.docker.io/v1/' });
    await lookup('gcr.example'); // asked once per registry
    expect(calls).toEqual(['docker-credential-gcr get <gcr.example', 'docker-credential-desktop get <https://index.docker.io/v1/']);
  });

  it('"credentials not found" is no credentials; other failures and bad answers name the helper', async () => {
    const notFound = recorder(() => ({ code: 1, stdout: 'credentials not found in native keychain\n' }));
    expect(await credentialsFromConfig({ credsStore: 'pass' }, notFound.run)('reg.example')).toBeUndefined();
    const garbage = recorder(() => ({ code: 0, stdout: 'hello' }));
    await expect(credentialsFromConfig({ credsStore: 'pass' }, garbage.run)('reg.example')).rejects.toMatchObject({
      code: 'REGISTRY_UNAUTHORIZED',
      message: expect.stringContaining('docker-credential-pass failed for reg.example: it printed something other than JSON'),
    });
    const noSecret = recorder(() => ({ code: 0, stdout: '{"Username":"u"}' }));
    await expect(credentialsFromConfig({ credsStore: 'pass' }, noSecret.run)('reg.example')).rejects.toThrow(/lacks Username or Secret/);
  });
});
