/**
 * The release plan in a real docker-registry: signed by release keys, stored under `CHANNEL.plan`, read back and
 * checked; the wave a site belongs to is the first whose selector matches its labels.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../keys/key-file.js';
import { connectDepot } from '../../src/depot/connect.js';
import { type ReleasePlan, planTag, readPlan, signPlan, targetFor, verifyPlan, writePlan } from '../../src/depot/plan.js';
import type { RegistryRepository } from '../../src/registry/repository.js';
import { run } from '../helpers/exec.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';
import { makeTrust } from '../helpers/trust.js';

const ROOT_A = `sha256:${'a'.repeat(64)}`;
const ROOT_B = `sha256:${'b'.repeat(64)}`;

function plan(serial: number, canary: string | null, rest: string | null): ReleasePlan {
  return {
    type: 'airlock-release-plan',
    channel: 'stable',
    created: new Date().toISOString(),
    serial,
    waves: [
      { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, root: canary, sequence: canary ? 8 : null },
      { name: 'eu', selector: { matchExpressions: [{ key: 'region', operator: 'In', values: ['eu'] }] }, root: rest, sequence: rest ? 7 : null },
    ],
  };
}

let registry: TestRegistry;
let repo: RegistryRepository;
let close: () => void;
const trust = makeTrust();

beforeAll(async () => {
  registry = await startRegistry();
  ({ repo, close } = await connectDepot({ ref: { registry: registry.host, repository: 'fleet/releases' } }));
});

afterAll(async () => {
  close?.();
  await registry?.stop();
});

describe('release plans in the depot', () => {
  it('are absent until written, then read back, verified and followed by the first matching wave', async () => {
    expect(await readPlan(repo, 'stable')).toBeUndefined();
    await writePlan(repo, 'stable', signPlan(plan(1, ROOT_B, ROOT_A), trust.release));
    const text = await readPlan(repo, 'stable');
    const got = verifyPlan(text ?? '', trust.trust, 'the depot plan');
    expect(got.serial).toBe(1);
    expect(targetFor(got, { ring: 'canary', region: 'eu' })).toEqual({ wave: 'canary', root: ROOT_B, sequence: 8 });
    expect(targetFor(got, { region: 'eu' })).toEqual({ wave: 'eu', root: ROOT_A, sequence: 7 });
    expect(targetFor(got, { region: 'us' })).toBeNull();
    // skopeo, an independent client, sees the tag and the plan's artifact type
    const raw = JSON.parse(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/fleet/releases:${planTag('stable')}`])) as { artifactType: string; layers: unknown[] };
    expect(raw.artifactType).toBe('application/vnd.airlock.release-plan.v1+json');
    expect(raw.layers).toHaveLength(1);
  });

  it('moves the tag to the newest plan, and a wave without a root gives its sites nothing', async () => {
    await writePlan(repo, 'stable', signPlan(plan(2, ROOT_B, null), trust.release));
    const got = verifyPlan((await readPlan(repo, 'stable')) ?? '', trust.trust, 'plan');
    expect(got.serial).toBe(2);
    expect(targetFor(got, { region: 'eu' })).toBeNull();
  });

  it('refuses a plan signed by a key the trust root does not hold for releases, and a tampered one', async () => {
    const stranger = signPlan(plan(3, ROOT_A, ROOT_A), [generateKey('stranger')]);
    expect(() => verifyPlan(stranger, trust.trust, 'plan')).toThrow(/release plan rejected/);
    const rootSigned = signPlan(plan(3, ROOT_A, ROOT_A), [trust.root]);
    expect(() => verifyPlan(rootSigned, trust.trust, 'plan')).toThrow(/release plan rejected/);
    // tampered in the registry's storage: the payload changes, the signature no longer verifies
    const envelope = JSON.parse((await readPlan(repo, 'stable')) ?? '{}') as { payload: string };
    const payload = Buffer.from(envelope.payload, 'base64').toString('utf8').replace(ROOT_B, ROOT_A);
    const tampered = JSON.stringify({ ...envelope, payload: Buffer.from(payload).toString('base64') });
    expect(() => verifyPlan(tampered, trust.trust, 'plan')).toThrow(/release plan rejected/);
  });

  it('refuses to sign a malformed plan, naming the problem', () => {
    expect(() => signPlan({ ...plan(4, ROOT_A, null), waves: [] }, trust.release)).toThrow(/lists no wave/);
    const bad = plan(4, ROOT_A, null);
    bad.waves[1] = { ...bad.waves[1]!, name: 'canary' };
    expect(() => signPlan(bad, trust.release)).toThrow(/used twice/);
    const badSelector = plan(4, ROOT_A, null);
    badSelector.waves[0] = { ...badSelector.waves[0]!, selector: { matchExpressions: [{ key: 'ring', operator: 'Near' as 'In', values: ['x'] }] } };
    expect(() => signPlan(badSelector, trust.release)).toThrow(/Near/);
    expect(() => signPlan({ ...plan(4, 'sha256:short', null) }, trust.release)).toThrow(/root and sequence/);
  });

  it('stores the envelope as a blob whose bytes are the signed text', async () => {
    const text = (await readPlan(repo, 'stable')) ?? '';
    const dir = join(registry.storage, 'docker/registry/v2/blobs/sha256');
    const { createHash } = await import('node:crypto');
    const hex = createHash('sha256').update(text).digest('hex');
    const held = await readdir(join(dir, hex.slice(0, 2)));
    expect(held).toContain(hex);
    expect(await readFile(join(dir, hex.slice(0, 2), hex, 'data'), 'utf8')).toBe(text);
  });
});
