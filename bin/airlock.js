#!/usr/bin/env -S node --initial-old-space-size=128
// The heap flag: see docs/adr/008-v8-heap-start.md (without it, the buffers a bundle streams through trigger a full
// garbage collection every few dozen MiB). `node bin/airlock.js` works too, just without it.
import { main } from '../dist/bin/main.js';

// A reader that stops early (`airlock fleet status | head`) closes the pipe: the rest of the output has nowhere to
// go, so the command ends quietly, as `cat` and `grep` do, instead of dying on an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await main(process.argv.slice(2));
