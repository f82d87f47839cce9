/**
 * One blob from the depot, resumable: its bytes go to an ingest file (DATA/depot/ingest/HEX) as they arrive and,
 * at the same time, to the caller (the import's archive stream). A connection cut off or stalled (no byte within the
 * read timeout) is retried with backoff, asking with `Range` for the bytes after those already in the ingest file;
 * a `200` instead of `206` starts the blob again. A later attempt (the next poll, after a restart) starts from the
 * ingest file too. The import pipeline hashes every byte handed out and, once the blob checks out, the store takes
 * the ingest file by rename (one write per blob, ADR 016).
 */
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Descriptor } from '../../src/descriptor.js';
import { AirlockError, errorMessage, isAirlockError } from '../../src/errors.js';
import type { RegistryRepository } from '../../src/registry/repository.js';

export interface IngestOptions {
  repo: RegistryRepository;
  dir: string;
  /** Longest wait for the next bytes of a response (a stall), and for a response to start. */
  readTimeoutMs: number;
  /** Attempts in a row that bring no new byte before the blob is given up (for this import). */
  attempts: number;
  sleep: (ms: number) => Promise<void>;
  /** Throttles to bytes per second (metered links); 0 or undefined: as fast as the link goes. */
  rate?: number;
  /** Called for every byte fetched from the depot (not for those read back from the ingest file). */
  onFetched?: (n: number) => void;
  /** True once the appliance is stopping: the download ends at the next chunk (the ingest file stays). */
  stopping?: () => boolean;
  /** A retry is about to happen: what went wrong. */
  onRetry?: (err: unknown, offset: number) => void;
}

export function ingestPath(dir: string, desc: Pick<Descriptor, 'digest'>): string {
  return join(dir, desc.digest.replace(/^sha256:/, ''));
}

/** Bytes of `desc` already in its ingest file. */
export async function ingested(dir: string, desc: Descriptor): Promise<number> {
  const s = await stat(ingestPath(dir, desc)).catch(() => undefined);
  return s && s.size <= desc.size ? s.size : 0;
}

/**
 * The blob's bytes, in order, each exactly once; after the last one the ingest file holds exactly the bytes handed
 * out (the store takes that file by rename once the import pipeline has hashed them: one write per blob). This
 * function hashes nothing: the pipeline's reader verifies every byte (ADR 001), and a blob it refuses after reading
 * all of it has its ingest file removed (OciLayoutStore.adopt). The file only ever grows: bytes already in it are
 * never written again. A depot that answers a range with the whole blob (200), or refuses it (416, asked again from
 * byte 0), has its bytes below the file's end skipped: those handed on before (and in the file) are the ones the
 * pipeline hashes, so whatever the depot sends again cannot make the file differ from what was verified.
 */
export async function* fetchBlob(desc: Descriptor, opts: IngestOptions): AsyncGenerator<Buffer> {
  await mkdir(opts.dir, { recursive: true });
  const path = ingestPath(opts.dir, desc);
  let have: number = await ingested(opts.dir, desc); // bytes in the ingest file, all handed out once read below
  if (have === 0) await rm(path, { force: true }); // empty, or larger than the blob: start again
  if (have > 0) {
    for await (const chunk of createReadStream(path, { start: 0, end: have - 1, highWaterMark: 1024 * 1024 })) yield chunk as Buffer;
  }
  const file = await open(path, 'a');
  const throttle = rateLimiter(opts.rate, opts.sleep);
  let fromStart: boolean = false; // after a 416: the next request asks for the whole blob
  try {
    let failures = 0;
    while (have < desc.size) {
      const before = have;
      try {
        const from: number = fromStart ? 0 : have;
        let pos: number = from; // where the response's next byte belongs in the blob
        for await (const piece of rangeBody(desc, from, opts)) {
          if (piece.restart) {
            // The depot ignored or refused the range: its bytes start again from the blob's first byte.
            pos = 0;
            fromStart = piece.refused;
            continue;
          }
          const chunk = piece.chunk;
          if (opts.stopping?.()) throw new AirlockError('IO_ERROR', `depot blob ${desc.digest}: the appliance is stopping (kept at byte ${have}; the next start resumes there)`);
          opts.onFetched?.(chunk.length);
          if (pos + chunk.length > desc.size) throw new AirlockError('SIZE_MISMATCH', `depot blob ${desc.digest} is longer than the ${desc.size} bytes its manifest says`);
          const fresh = pos + chunk.length > have ? chunk.subarray(Math.max(0, have - pos)) : undefined;
          pos += chunk.length;
          if (fresh) {
            await writeAll(file, fresh);
            have += fresh.length;
            fromStart = false;
            yield fresh;
          }
          await throttle(chunk.length);
        }
        if (have < desc.size) throw new AirlockError('REGISTRY_UNREACHABLE', `depot blob ${desc.digest}: the response ended at byte ${pos} of ${desc.size}`);
      } catch (err) {
        if (isAirlockError(err) && !retryable(err)) throw err;
        failures = have > before ? 1 : failures + 1;
        if (failures >= opts.attempts) {
          throw new AirlockError('REGISTRY_UNREACHABLE', `depot blob ${desc.digest}: no progress after ${failures} attempts, stopped at byte ${have} of ${desc.size} (kept; the next poll resumes there): ${errorMessage(err)}`, { cause: err });
        }
        opts.onRetry?.(err, have);
        await opts.sleep(Math.min(200 * 2 ** (failures - 1), 10_000) * (0.5 + Math.random()));
      }
    }
  } finally {
    await file.close();
  }
}

/** Appends all of `chunk` (a write may take fewer bytes than asked). */
async function writeAll(file: FileHandle, chunk: Buffer): Promise<void> {
  let done = 0;
  while (done < chunk.length) done += (await file.write(chunk, done, chunk.length - done, null)).bytesWritten;
}

function retryable(err: AirlockError): boolean {
  return err.code === 'REGISTRY_UNREACHABLE' || err.code === 'REGISTRY_ERROR';
}

type Piece = { restart: true; refused: boolean } | { restart: false; chunk: Buffer };

/** GET the blob from `offset` on: the body's chunks, a restart marker first when the depot answered 200 to a range. */
async function* rangeBody(desc: Descriptor, offset: number, opts: IngestOptions): AsyncGenerator<Piece> {
  const { repo } = opts;
  const what = `${repo.client.registry}/${repo.name}@${desc.digest}`;
  const request = repo.client.request('GET', `/v2/${repo.name}/blobs/${desc.digest}`, {
    scopes: [`repository:${repo.name}:pull`],
    what,
    headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
    accept: [416],
  });
  // the client retries 5xx and network errors itself (about 1.5 s in all): room for that before a stall is declared
  const headMs = opts.readTimeoutMs + 5000;
  let res: Response;
  try {
    res = await withTimeout(request, headMs, `${what}: no response within ${headMs} ms`);
  } catch (err) {
    void request.then((late) => late.body?.cancel(), () => undefined); // an answer that comes too late is not read
    throw err;
  }
  if (res.status === 416) {
    await res.body?.cancel();
    yield { restart: true, refused: true };
    throw new AirlockError('REGISTRY_ERROR', `${what}: the depot refused the range from byte ${offset}; starting the blob again`);
  }
  if (offset > 0) {
    const start = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1];
    if (res.status !== 206 || Number(start) !== offset) yield { restart: true, refused: false };
  }
  if (!res.body) throw new AirlockError('REGISTRY_ERROR', `${what}: empty response body`);
  const reader = (res.body as WebReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const next = await withTimeout(reader.read(), opts.readTimeoutMs, `${what}: no bytes for ${opts.readTimeoutMs} ms (stalled)`);
      if (next.done) return;
      yield { restart: false, chunk: Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength) };
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AirlockError('REGISTRY_UNREACHABLE', message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sleeps so that bytes counted through it average at most `rate` per second. */
function rateLimiter(rate: number | undefined, sleep: (ms: number) => Promise<void>): (n: number) => Promise<void> {
  if (!rate) return async () => undefined;
  const started = Date.now();
  let total = 0;
  return async (n) => {
    total += n;
    const due = (total / rate) * 1000 - (Date.now() - started);
    if (due > 5) await sleep(due);
  };
}
