/**
 * Where the fleet's receipts come from: a folder of receipt files that came back on sticks (any depth, any file
 * names), or the depot (`REPO/sites/SITE:latest`, contract B). Each receipt is attributed to a site by the key that
 * signed it, checked against that site's key only, and reduced at once to what status and gates need (the blob
 * and commit lists are dropped): 10,000 receipts stream through in little memory.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Digest, verifyBytes } from '../digest.js';
import { AirlockError, errorMessage, isAirlockError } from '../errors.js';
import { parseJson } from '../graph.js';
import { MANIFEST_ACCEPT, RegistryRepository } from '../registry/repository.js';
import { fetchAll } from '../storage.js';
import { RECEIPT_PAYLOAD_TYPE, type ReceiptChannel, type ReceiptPlacement, verifyReceipt } from '../../keys/receipt.js';
import type { FleetSite } from './load.js';
import { mapLimit } from './limit.js';

/** One verified receipt, reduced. */
export interface Evidence {
  created: string;
  signer: string;
  channels: ReceiptChannel[];
  placements: ReceiptPlacement[];
  /** The file or depot reference it was read from. */
  where: string;
}

export interface SiteReport {
  site: string;
  /** The newest receipt signed by the site's key. */
  latest?: Evidence;
  /** Older receipts of the site, newest first (only when asked for). */
  older: Evidence[];
  /** The newest receipt claiming to be this site's that does not verify against its key. */
  untrusted?: { where: string; why: string };
}

export interface ReadResult {
  reports: Map<string, SiteReport>;
  /** Receipts signed by no site of the fleet and naming none of them. */
  strangers: { where: string; why: string }[];
  /** Files that are not receipts (skipped). */
  skipped: number;
}

const RECEIPT_LIMIT = 64 * 1024 * 1024;

function reduce(r: { created: string; channels: ReceiptChannel[]; placements?: ReceiptPlacement[] }, signer: string, where: string): Evidence {
  return { created: r.created, signer, channels: r.channels, placements: r.placements ?? [], where };
}

function emptyReports(sites: FleetSite[]): Map<string, SiteReport> {
  return new Map(sites.map((s) => [s.name, { site: s.name, older: [] }]));
}

/** Adds a verified receipt to its site's report, keeping the newest as `latest`. */
function add(report: SiteReport, e: Evidence, keepOlder: boolean): void {
  const latest = report.latest;
  if (!latest || Date.parse(e.created) > Date.parse(latest.created)) {
    if (latest && keepOlder) report.older.push(latest);
    report.latest = e;
  } else if (keepOlder) report.older.push(e);
}

export function sortOlder(reports: Map<string, SiteReport>): void {
  for (const r of reports.values()) r.older.sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
}

/**
 * Checks one receipt's text and files it under its site. The signature's key id finds the site (a key no site has:
 * the payload's own `site` or `appliance` claim does, and it is untrusted).
 */
export function fileReceipt(text: string, where: string, sites: { byKey: Map<string, FleetSite>; byName: Map<string, FleetSite> }, result: ReadResult, keepOlder: boolean): void {
  const known = sites.byKey.get(canonicalKeyid(text) ?? '');
  if (known) {
    verifyInto(text, where, known, result, keepOlder);
    return;
  }
  let envelope: { payloadType?: unknown; payload?: unknown; signatures?: { keyid?: unknown }[] };
  try {
    envelope = JSON.parse(text) as typeof envelope;
  } catch {
    result.skipped++;
    return;
  }
  if (envelope?.payloadType !== RECEIPT_PAYLOAD_TYPE) {
    result.skipped++;
    return;
  }
  const keyids = Array.isArray(envelope.signatures) ? envelope.signatures.map((s) => String(s?.keyid ?? '')) : [];
  const site = keyids.map((k) => sites.byKey.get(k)).find(Boolean) ?? claimedSite(envelope.payload, sites.byName);
  if (!site) {
    result.strangers.push({ where, why: `signed by ${keyids.map((k) => k.slice(0, 12)).join(', ') || 'nobody'}, a key of no site in the fleet` });
    return;
  }
  verifyInto(text, where, site, result, keepOlder);
}

function verifyInto(text: string, where: string, site: FleetSite, result: ReadResult, keepOlder: boolean): void {
  const report = result.reports.get(site.name);
  if (!report) return;
  try {
    const { receipt, signer } = verifyReceipt(text, [site.key], where);
    add(report, reduce(receipt, signer, where), keepOlder);
  } catch (err) {
    if (!report.untrusted) report.untrusted = { where, why: errorMessage(err) };
  }
}

const CANONICAL_HEAD = '{"payload":"';
const CANONICAL_TAIL = `","payloadType":"${RECEIPT_PAYLOAD_TYPE}","signatures":[{"keyid":"`;

/**
 * The first signature's key id of a receipt in the form appliances write it (`serializeEnvelope`: payload,
 * payloadType, signatures), found without parsing the envelope: `verifyReceipt` parses and checks it anyway, so
 * this only saves a second parse of every receipt (10,000 in a fleet). The payload is a JSON string, so the first
 * quote after its start that is followed by the exact tail ends it (a quote inside the string is escaped and
 * cannot be). Anything else (other whitespace, other order, other types, not JSON): undefined, and the caller
 * parses.
 */
function canonicalKeyid(text: string): string | undefined {
  if (!text.startsWith(CANONICAL_HEAD)) return undefined;
  const end = text.indexOf('"', CANONICAL_HEAD.length);
  if (end < 0 || !text.startsWith(CANONICAL_TAIL, end)) return undefined;
  const start = end + CANONICAL_TAIL.length;
  const keyid = text.slice(start, start + 64);
  return text.charCodeAt(start + 64) === 34 && /^[0-9a-f]{64}$/.test(keyid) ? keyid : undefined;
}

/** The site a receipt names itself (unverified: only used to show whose receipt failed). */
function claimedSite(payload: unknown, byName: Map<string, FleetSite>): FleetSite | undefined {
  if (typeof payload !== 'string') return undefined;
  try {
    const claim = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as { site?: unknown };
    return typeof claim.site === 'string' ? byName.get(claim.site) : undefined;
  } catch {
    return undefined;
  }
}

export function siteIndex(sites: FleetSite[]): { byKey: Map<string, FleetSite>; byName: Map<string, FleetSite> } {
  return { byKey: new Map(sites.map((s) => [s.key.keyid, s])), byName: new Map(sites.map((s) => [s.name, s])) };
}

/** Every receipt file below `dir` (receipts from sticks). `keepOlder`: keep every receipt of a site, not just the newest. */
export async function readReceiptsDir(dir: string, sites: FleetSite[], { keepOlder = false, only }: { keepOlder?: boolean; only?: Set<string> } = {}): Promise<ReadResult> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    throw new AirlockError('NOT_FOUND', `--receipts ${dir}: ${err.code ?? err.message}`);
  });
  if (!info.isDirectory()) throw new AirlockError('USAGE', `--receipts ${dir} is not a directory: give the folder the receipts were copied to`);
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
  const index = siteIndex(only ? sites.filter((s) => only.has(s.name)) : sites);
  const result: ReadResult = { reports: emptyReports(sites), strangers: [], skipped: 0 };
  // Read synchronously, 32 files between turns of the event loop (`fleet serve` stays responsive): for thousands
  // of small files, a read through the thread pool costs five times the CPU of the read itself (~0.17 ms against
  // ~0.03 ms a file), and the signature checks that follow are synchronous anyway.
  for (const [i, path] of files.entries()) {
    const text = readSmall(path);
    if (text === undefined) result.skipped++;
    else fileReceipt(text, path, index, result, keepOlder);
    if (i % 32 === 31) await new Promise((resolve) => setImmediate(resolve));
  }
  if (only) result.strangers = [];
  sortOlder(result.reports);
  return result;
}

/** A file's text, or undefined when it is over the receipt limit: one open, its size from the open file. */
function readSmall(path: string): string | undefined {
  const fd = openSync(path, 'r');
  try {
    if (fstatSync(fd).size > RECEIPT_LIMIT) return undefined;
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

type ReceiptLayer = { mediaType: string; digest: string; size: number; data?: unknown };

/**
 * The depot's receipt of one site: `REPO/sites/SITE:latest`; undefined when the site never pushed one. One request
 * when the manifest carries the receipt in its layer descriptor (`data`, OCI image-spec 1.1; appliances write it
 * since issue 15's speed-up), a second one for the blob otherwise (older appliances, receipts over the inline limit).
 */
export async function depotReceipt(depot: RegistryRepository, site: string): Promise<string | undefined> {
  const repo = new RegistryRepository(depot.client, `${depot.name}/sites/${site}`);
  const where = `${depot.client.registry}/${repo.name}:latest`;
  // The request itself rather than repo.getManifest: a tag's manifest is not checked against a digest, so its
  // hash, the cache and a second parse would only cost time on each of 10,000 sites.
  let bytes: Buffer;
  try {
    const res = await depot.client.request('GET', `/v2/${repo.name}/manifests/latest`, { scopes: [`repository:${repo.name}:pull`], what: where, headers: { accept: MANIFEST_ACCEPT } });
    bytes = Buffer.from(await res.arrayBuffer());
  } catch (err) {
    if (isAirlockError(err, 'NOT_FOUND')) return undefined;
    throw err;
  }
  const manifest = parseJson<{ artifactType?: string; layers?: ReceiptLayer[] }>(bytes, where);
  const layer = manifest.layers?.[0];
  if (manifest.artifactType !== RECEIPT_PAYLOAD_TYPE || !layer || layer.mediaType !== RECEIPT_PAYLOAD_TYPE) {
    throw new AirlockError('MANIFEST_UNSUPPORTED', `${where} is not a site receipt (artifactType ${manifest.artifactType ?? 'none'})`);
  }
  if (layer.data !== undefined) return inlineReceipt(layer, where).toString('utf8');
  if (layer.size > RECEIPT_LIMIT) throw new AirlockError('MANIFEST_UNSUPPORTED', `${where}: a receipt of ${layer.size} bytes is over the ${RECEIPT_LIMIT}-byte limit`);
  const blob = await fetchAll(repo, layer, RECEIPT_LIMIT);
  verifyBytes(blob, layer, `${where} receipt ${layer.digest}`);
  return blob.toString('utf8');
}

/**
 * The receipt embedded in its layer descriptor, checked like a blob fetched by digest: bytes that are not base64,
 * or whose length or sha256 differ from the descriptor's, are refused (`DIGEST_MISMATCH`), never read instead of
 * the blob the descriptor names.
 */
function inlineReceipt(layer: ReceiptLayer, where: string): Buffer {
  const label = `${where}: the receipt embedded in the manifest (layer ${layer.digest})`;
  const data = layer.data;
  if (typeof data !== 'string') throw new AirlockError('DIGEST_MISMATCH', `${label} is not a base64 string: the manifest was altered`);
  if (data.length > ((RECEIPT_LIMIT + 2) / 3) * 4) throw new AirlockError('DIGEST_MISMATCH', `${label} is over the ${RECEIPT_LIMIT}-byte receipt limit`);
  // Decoders skip what is not base64, so whatever the text, the size and the digest decide; the text is looked at
  // only to say why they do not match.
  const bytes = Buffer.from(data, 'base64');
  const actual = bytes.length === layer.size ? sha256Digest(bytes) : undefined;
  if (actual === layer.digest) return bytes;
  if (data.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw new AirlockError('DIGEST_MISMATCH', `${label} is not base64: the manifest was altered`);
  if (actual === undefined) throw new AirlockError('DIGEST_MISMATCH', `${label} has ${bytes.length} bytes, the descriptor says ${layer.size}: the manifest was altered`);
  throw new AirlockError('DIGEST_MISMATCH', `${label} has digest ${actual}, the descriptor says ${layer.digest}: the manifest was altered`);
}

/**
 * Every listed site's latest receipt from the depot, `concurrency` sites at a time. `onText` sees each receipt's
 * text (to keep it in the history folder).
 */
export async function readReceiptsDepot(depot: RegistryRepository, sites: FleetSite[], { concurrency = 32, onText }: { concurrency?: number; onText?: (site: FleetSite, text: string, e: Evidence) => Promise<void> } = {}): Promise<ReadResult> {
  const result: ReadResult = { reports: emptyReports(sites), strangers: [], skipped: 0 };
  await mapLimit(sites, concurrency, async (site) => {
    const report = result.reports.get(site.name) as SiteReport;
    let text: string | undefined;
    const where = `${depot.client.registry}/${depot.name}/sites/${site.name}:latest`;
    try {
      text = await depotReceipt(depot, site.name);
    } catch (err) {
      // What one site's manifest or blob says is that site's problem (shown as untrusted), not the run's.
      if (!isAirlockError(err, 'MANIFEST_UNSUPPORTED') && !isAirlockError(err, 'DIGEST_MISMATCH') && !isAirlockError(err, 'SIZE_MISMATCH')) throw err;
      report.untrusted = { where, why: errorMessage(err) };
      return;
    }
    if (text === undefined) return;
    try {
      const { receipt, signer } = verifyReceipt(text, [site.key], where);
      const e = reduce(receipt, signer, where);
      report.latest = e;
      await onText?.(site, text, e);
    } catch (err) {
      report.untrusted = { where, why: errorMessage(err) };
    }
  });
  return result;
}
