/**
 * Reads a fleet file and what it names: each site's appliance public key (a key file or inline), or with
 * `sitesDir` every site file there (`*.yaml`/`*.yml`, kind Site) and its `NAME.pub` key. Files are read with
 * bounded concurrency, so a fleet of 10,000 sites loads without 10,000 open files.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AirlockError } from '../errors.js';
import { type PublicKey, keyIdOf, readPublicKey } from '../../keys/key-file.js';
import { parseSiteFile } from '../site/site-file.js';
import { type FleetFile, type FleetWave, type KeyRef, parseFleetFile } from './fleet-file.js';
import { mapLimit } from './limit.js';

export interface FleetSite {
  name: string;
  labels: Record<string, string>;
  key: PublicKey;
  /** The site's clusters as its site file lists them (sitesDir only): each is expected in its receipts. */
  clusters?: string[];
  origin: string;
}

export interface Fleet {
  file: string;
  depot?: string;
  staleMs: number;
  history?: string;
  sites: FleetSite[];
  waves: FleetWave[];
}

export async function loadFleet(path: string): Promise<Fleet> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new AirlockError('FLEET_INVALID', `cannot read the fleet file ${path}: ${err.code ?? err.message}`);
  });
  const file = parseFleetFile(text, path);
  const sites = file.sitesDir ? await sitesFromDir(file.sitesDir) : await sitesFromList(file);
  return { file: path, ...(file.depot ? { depot: file.depot } : {}), staleMs: file.staleMs, ...(file.history ? { history: file.history } : {}), sites, waves: file.waves };
}

async function keyOf(ref: KeyRef, where: string): Promise<PublicKey> {
  if ('inline' in ref) {
    const raw = Buffer.from(ref.inline, 'base64');
    return { keytype: 'ed25519', keyid: keyIdOf(raw), public: ref.inline };
  }
  return readPublicKey(ref.path).catch((err: Error) => {
    throw new AirlockError('FLEET_INVALID', `${where}: ${err.message}`);
  });
}

async function sitesFromList(file: FleetFile): Promise<FleetSite[]> {
  const sites = await mapLimit(file.sites, 32, async (s) => ({ name: s.name, labels: s.labels, key: await keyOf(s.key, `${s.origin} (site ${s.name})`), origin: s.origin }));
  checkKeysUnique(sites);
  return sites;
}

async function sitesFromDir(dir: string): Promise<FleetSite[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    throw new AirlockError('FLEET_INVALID', `sitesDir ${dir}: ${err.code ?? err.message}`);
  });
  const files = names.filter((n) => /\.ya?ml$/.test(n)).sort();
  if (!files.length) throw new AirlockError('FLEET_INVALID', `sitesDir ${dir} holds no site files (*.yaml)`);
  const sites = await mapLimit(files, 32, async (n) => {
    const path = join(dir, n);
    const site = parseSiteFile(await readFile(path, 'utf8'), path);
    const keyPath = join(dir, `${site.name}.pub`);
    const key = await readPublicKey(keyPath).catch((err: Error) => {
      throw new AirlockError('FLEET_INVALID', `${path} (site ${site.name}): its appliance key ${keyPath}: ${err.message}`);
    });
    return { name: site.name, labels: site.labels, key, clusters: site.clusters.filter((c) => c.reconcile === 'airlock').map((c) => c.name), origin: `${path}:1` };
  });
  const seen = new Map<string, string>();
  for (const s of sites) {
    const earlier = seen.get(s.name);
    if (earlier) throw new AirlockError('FLEET_INVALID', `${s.origin}: site "${s.name}" is also defined at ${earlier}`);
    seen.set(s.name, s.origin);
  }
  checkKeysUnique(sites);
  return sites;
}

/** One key per site: a receipt is attributed to a site by the key that signed it. */
function checkKeysUnique(sites: FleetSite[]): void {
  const byKey = new Map<string, FleetSite>();
  for (const s of sites) {
    const other = byKey.get(s.key.keyid);
    if (other) throw new AirlockError('FLEET_INVALID', `${s.origin}: site "${s.name}" has the same appliance key as site "${other.name}" (${other.origin}); each appliance has its own key`);
    byKey.set(s.key.keyid, s);
  }
}
