/**
 * Receipts as appliances write them (keys/receipt.ts), pushed to the depot the way contract B says
 * (`REPO/sites/SITE:latest`, an OCI manifest with the receipt artifact type, the empty config, one layer): what
 * the fleet reads until the appliance's own push lands.
 */
import { receiptManifest } from '../../appliance/depot/report.js';
import { MediaType } from '../../src/descriptor.js';
import { connectDepot } from '../../src/depot/connect.js';
import { descriptorOf, parseDepotRef } from '../../src/depot/layout.js';
import { RegistryRepository } from '../../src/registry/repository.js';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type SecretKey, generateKey, writeKeyFiles } from '../../keys/key-file.js';
import { layoutBundle } from '../helpers/bundle-fixture.js';
import { cli } from '../helpers/cli.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';
import type { makeTrust } from '../helpers/trust.js';
import { RECEIPT_PAYLOAD_TYPE, type ReceiptPlacement, signReceipt } from '../../keys/receipt.js';

export interface ReceiptInput {
  site: string;
  labels?: Record<string, string>;
  created: Date;
  channel?: string;
  root: string;
  sequence?: number;
  health?: string;
  sync?: string;
  drifted?: number;
  /** The drifted objects by name, as appliances name them (`Deployment shop/web`). */
  driftedObjects?: string[];
  clusters?: string[];
  reason?: string;
}

export function receiptText(key: SecretKey, r: ReceiptInput): string {
  const channel = r.channel ?? 'stable';
  const health = r.health ?? 'Healthy';
  const placements: ReceiptPlacement[] = (r.clusters ?? ['pos']).map((cluster) => ({
    cluster,
    channel,
    root: r.root,
    sync: r.sync ?? 'Synced',
    health,
    drifted: r.drifted ?? 0,
    ...(r.driftedObjects ? { driftedObjects: r.driftedObjects } : {}),
    checkedAt: r.created.toISOString(),
    ...(r.reason ? { reason: r.reason } : {}),
  }));
  return signReceipt(
    {
      type: 'airlock-receipt',
      created: r.created.toISOString(),
      appliance: key.keyid,
      site: r.site,
      ...(r.labels ? { labels: r.labels } : {}),
      channels: [{ channel, name: 'fleet-test', sequence: r.sequence ?? 1, root: r.root, appliedAt: r.created.toISOString(), sync: r.sync ?? 'Synced', health }],
      placements,
      blobs: [],
      git: [],
    },
    key,
  );
}

/** Pushes a receipt to `DEPOT/sites/SITE:latest` (contract B). */
export async function pushReceipt(depot: string, site: string, text: string, created: Date): Promise<void> {
  const { repo: top, close } = await connectDepot({ ref: parseDepotRef(depot), env: {} });
  try {
    const repo = new RegistryRepository(top.client, `${top.name}/sites/${site}`);
    const empty = Buffer.from('{}');
    const emptyDesc = descriptorOf(empty, MediaType.ociEmpty);
    const layer = Buffer.from(text);
    const layerDesc = descriptorOf(layer, RECEIPT_PAYLOAD_TYPE);
    await repo.push(emptyDesc, Readable.from([empty]));
    await repo.push(layerDesc, Readable.from([layer]));
    // The manifest as appliances write it (the receipt also inline in the layer descriptor, ADR 016).
    const manifest = receiptManifest(layer, created.toISOString());
    await repo.putManifest(descriptorOf(manifest, MediaType.ociManifest), manifest, 'latest');
  } finally {
    close();
  }
}

export interface FleetDepot {
  registry: TestRegistry;
  /** A fresh directory: root.json, release.key, SITE.key/.pub, docker/config.json. */
  work: string;
  depot: string;
  r1: string;
  r2: string;
  root1: string;
  root2: string;
}

/**
 * A docker-registry depot holding releases 1 and 2 (pushed with `bundle push`), and a work directory with the trust
 * root, the release key and a key for each site (put into `keys`).
 */
export async function startFleetDepot(prefix: string, trust: ReturnType<typeof makeTrust>, keys: Record<string, SecretKey>, sites: string[]): Promise<FleetDepot> {
  const registry = await startRegistry();
  const work = await mkdtemp(join(tmpdir(), `airlock-${prefix}-`));
  const k = (name: string) => join(work, name);
  const depot = `oci://${registry.host}/stores`;
  await mkdir(k('docker'));
  await writeFile(k('docker/config.json'), '{}');
  await writeFile(k('root.json'), trust.text);
  await writeKeyFiles(k('release'), trust.release[0] as SecretKey);
  const b1 = await layoutBundle(trust.release, { sequence: 1 });
  const b2 = await layoutBundle(trust.release, { sequence: 2, layerSizes: [3000, 1600, 800] });
  for (const r of [b1.path, b2.path]) {
    const pushed = await cli(['bundle', 'push', r, depot], { env: { DOCKER_CONFIG: k('docker') } });
    if (pushed.code !== 0) throw new Error(`bundle push failed: ${pushed.stderr}`);
  }
  for (const name of sites) {
    keys[name] = generateKey(name);
    await writeKeyFiles(k(name), keys[name] as SecretKey);
  }
  return { registry, work, depot, r1: b1.path, r2: b2.path, root1: b1.result.statement.root.digest, root2: b2.result.statement.root.digest };
}
