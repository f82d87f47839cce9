/** Shared by the depot appliance tests: push a bundle file into a depot in-process, wait for an appliance's depot state. */
import { scanBundle } from '../../src/depot/bundle-source.js';
import { connectDepot } from '../../src/depot/connect.js';
import { parseDepotRef } from '../../src/depot/layout.js';
import { type PushResult, pushBundle } from '../../src/depot/push.js';
import { unverifiedPartsIndex } from '../../keys/parts.js';
import { unverifiedStatement } from '../../keys/statement-verifier.js';
import type { DepotView } from '../../appliance/depot/start.js';
import type { RunningAppliance } from '../../appliance/server.js';

export async function pushTo(file: string, depot: string): Promise<PushResult> {
  const bundle = await scanBundle({ path: file, verifyStatement: unverifiedStatement, readIndex: unverifiedPartsIndex });
  const { repo, close } = await connectDepot({ ref: parseDepotRef(depot) });
  try {
    return await pushBundle({ bundle, repo });
  } finally {
    close();
  }
}

export function depotView(app: RunningAppliance): DepotView {
  const view = app.ctx.depot?.view() as DepotView | undefined;
  if (!view) throw new Error('the appliance runs without --depot');
  return view;
}

/** Waits (polling the appliance's own state, not the clock) until `ok` holds, or fails after `ms`. */
export async function until<T>(what: string, probe: () => T | undefined | false, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
