/**
 * A reader that stops early (`airlock … | head`): the command ends quietly with its own exit code instead of
 * dying on an unhandled EPIPE with a stack trace. The output here (the JSON status of 1,500 sites that never
 * reported) is far larger than a pipe's buffer, so the write really does meet a closed pipe.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../keys/key-file.js';
import { BINARY as AIRLOCK } from '../helpers/cli.js';
import { exec } from '../helpers/exec.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-epipe-'));
  await mkdir(join(work, 'receipts'));
  const sites = Array.from({ length: 1500 }, (_, i) => `  - {name: store-${String(i).padStart(4, '0')}, labels: {region: eu}, key: ${generateKey(`s${i}`).public}}`);
  await writeFile(join(work, 'fleet.yaml'), `kind: Fleet\nsites:\n${sites.join('\n')}\nwaves:\n  - {name: everyone, selector: {}}\n`);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('output into a pipe closed early', () => {
  it('ends without an EPIPE crash and with the exit code of the command', async () => {
    const full = await exec('node', [AIRLOCK, 'fleet', 'status', '-f', join(work, 'fleet.yaml'), '--receipts', join(work, 'receipts'), '--json']);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout.length).toBeGreaterThan(256 * 1024);
    const cut = await exec('bash', ['-c', `set -o pipefail; node "$0" fleet status -f "$1" --receipts "$2" --json | head -c 64 >/dev/null`, AIRLOCK, join(work, 'fleet.yaml'), join(work, 'receipts')]);
    expect(cut.stderr).not.toMatch(/EPIPE|Error|at /);
    expect(cut.code).toBe(0);
  });
});
