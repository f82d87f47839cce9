#!/usr/bin/env -S node --initial-old-space-size=128
// The heap flag: see docs/adr/008-v8-heap-start.md (without it, the buffers a bundle streams through trigger a full
// garbage collection every few dozen MiB). `node bin/airlock.js` works too, just without it.
import { main } from '../dist/bin/main.js';

process.exitCode = await main(process.argv.slice(2));
