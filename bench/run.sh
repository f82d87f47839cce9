#!/usr/bin/env bash
# npm run bench: installs what the benchmarks need, builds, and runs them; results go to bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/setup/install-deps.sh
bash bin/prepare.sh
node dist/bench/bundle-bench.js "$@"
node dist/bench/sneakernet-bench.js
node dist/bench/reconcile-bench.js
node dist/bench/placement-bench.js
node dist/bench/render-bench.js
node dist/bench/chart-bench.js
node dist/bench/depot-bench.js
node dist/bench/depot-scale-bench.js
node dist/bench/fleet-bench.js
