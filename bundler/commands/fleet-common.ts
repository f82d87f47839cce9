/** What `fleet status`, `fleet promote` and `fleet serve` share: the fleet file, where receipts come from, heads. */
import { dirname, join } from 'node:path';
import { type OptionSpec, type OptionValues, UsageError, stringOpt } from '../../src/command.js';
import { connectDepotFromFlags } from './depot-flags.js';
import { parseDepotRef } from '../../src/depot/layout.js';
import type { RegistryRepository } from '../../src/registry/repository.js';
import { bundleHeads, depotHead } from '../../src/fleet/heads.js';
import { keepReceipt } from '../../src/fleet/history.js';
import { type Fleet, loadFleet } from '../../src/fleet/load.js';
import { type ReadResult, readReceiptsDepot, readReceiptsDir } from '../../src/fleet/receipts.js';
import type { ChannelHead } from '../../src/fleet/status.js';

export const SOURCE_OPTIONS: Record<string, OptionSpec> = {
  fleet: { type: 'string', short: 'f' },
  depot: { type: 'string' },
  receipts: { type: 'string' },
  history: { type: 'string' },
  cacert: { type: 'string', multiple: true },
  insecure: { type: 'boolean' },
};

export const SOURCE_HELP = `  -f, --fleet FILE     the fleet file (fleet.yaml): sites, their keys and labels, waves
  --depot oci://HOST/REPO  read each site's receipt from the depot (REPO/sites/SITE:latest); wins over
                       the fleet file's depot
  --receipts DIR       read the receipts in this folder instead (any depth, any names: receipts that
                       came back on sticks)
  --history DIR        where receipts read from the depot are kept, so soak times can be measured
                       (default: the fleet file's history, else .airlock-fleet-history next to it)
  --cacert FILE        also trust the CA certificates in this PEM file for the depot (repeatable)
  --insecure           do not verify the depot's TLS certificate`;

export type Source = { kind: 'depot'; url: string; repo: RegistryRepository; close: () => void } | { kind: 'receipts'; dir: string };

export interface Opened {
  fleet: Fleet;
  source: Source;
  history: string;
}

export async function openFleet(values: OptionValues): Promise<Opened> {
  const fleetPath = stringOpt(values, 'fleet', true);
  const receipts = stringOpt(values, 'receipts');
  const depotFlag = stringOpt(values, 'depot');
  if (receipts && depotFlag) throw new UsageError('give either --depot or --receipts, not both');
  const fleet = await loadFleet(fleetPath);
  const history = stringOpt(values, 'history') ?? fleet.history ?? join(dirname(fleetPath), '.airlock-fleet-history');
  if (receipts) return { fleet, source: { kind: 'receipts', dir: receipts }, history };
  const url = depotFlag ?? fleet.depot;
  if (!url) throw new UsageError(`say where the receipts are: --depot oci://HOST/REPO, --receipts DIR, or depot: in ${fleetPath}`);
  const { repo, close } = await connectDepotFromFlags(parseDepotRef(url), values);
  return { fleet, source: { kind: 'depot', url, repo, close }, history };
}

export function closeSource(source: Source): void {
  if (source.kind === 'depot') source.close();
}

/** Every site's latest receipt; receipts read from the depot are kept in the history folder. */
export async function readReports(o: Opened, { keepOlder = false }: { keepOlder?: boolean } = {}): Promise<ReadResult> {
  if (o.source.kind === 'receipts') return readReceiptsDir(o.source.dir, o.fleet.sites, { keepOlder });
  return readReceiptsDepot(o.source.repo, o.fleet.sites, { onText: (site, text, e) => keepReceipt(o.history, site.name, text, e.created) });
}

/** Heads of the channels the receipts mention (depot), or of the bundles given (--head). */
export async function readHeads(o: Opened, reports: ReadResult, bundles: string[], only?: string): Promise<Map<string, ChannelHead>> {
  if (bundles.length) return bundleHeads(bundles);
  if (o.source.kind !== 'depot') return new Map();
  const channels = new Set<string>();
  if (only) channels.add(only);
  else {
    for (const r of reports.reports.values()) {
      for (const c of r.latest?.channels ?? []) channels.add(c.channel);
      for (const p of r.latest?.placements ?? []) channels.add(p.channel);
    }
  }
  const heads = new Map<string, ChannelHead>();
  for (const c of channels) {
    const head = await depotHead(o.source.repo, c);
    if (head) heads.set(c, head);
  }
  return heads;
}
