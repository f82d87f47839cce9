/**
 * Docker credential helpers (`docker-credential-NAME get`), as docker, podman and skopeo run them: the registry's
 * server URL on stdin, `{"ServerURL", "Username", "Secret"}` on stdout. A helper that knows no credentials for the
 * host ("credentials not found") means anonymous access; any other failure is an error that names the helper.
 */
import { spawn } from 'node:child_process';
import { AirlockError } from '../errors.js';
import type { Credential } from './credentials.js';

/** Runs a helper program; injectable so callers can be tested with a different runner. */
export type HelperRunner = (program: string, args: string[], input: string) => Promise<{ code: number; stdout: string; stderr: string }>;

export const spawnHelper: HelperRunner = (program, args, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => undefined); // a helper may exit without reading
    child.stdin.end(input);
  });

/** Asks `docker-credential-NAME` for `serverUrl`'s credentials; undefined when the helper has none. */
export async function runCredentialHelper(name: string, serverUrl: string, run: HelperRunner = spawnHelper): Promise<Credential | undefined> {
  const program = `docker-credential-${name}`;
  let result: { code: number; stdout: string; stderr: string };
  try {
    result = await run(program, ['get'], serverUrl);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it is not installed or not on PATH' : (code ?? (err as Error).message);
    throw helperError(program, serverUrl, why, err);
  }
  const output = `${result.stdout}\n${result.stderr}`.trim();
  if (result.code !== 0) {
    if (/credentials not found/i.test(output)) return undefined;
    throw helperError(program, serverUrl, `it exited ${result.code}${output ? `: ${firstLine(output)}` : ''}`);
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(result.stdout) as typeof parsed;
  } catch {
    throw helperError(program, serverUrl, 'it printed something other than JSON');
  }
  if (typeof parsed.Username !== 'string' || typeof parsed.Secret !== 'string' || !parsed.Secret) {
    throw helperError(program, serverUrl, 'its answer lacks Username or Secret');
  }
  return { username: parsed.Username, password: parsed.Secret };
}

function helperError(program: string, serverUrl: string, why: string, cause?: unknown): AirlockError {
  return new AirlockError(
    'REGISTRY_UNAUTHORIZED',
    `the credential helper ${program} failed for ${serverUrl}: ${why}; fix the helper or change credsStore/credHelpers in your Docker config.json`,
    cause === undefined ? undefined : { cause },
  );
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim()) ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
