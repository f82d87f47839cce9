#!/usr/bin/env bash
# npm run bench: installs what the benchmarks need, builds, and runs them; results go to bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/setup/install-deps.sh
# (re)install when node_modules is missing or older than the lockfile
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund
fi
npx tsc -p tsconfig.json
node dist/bench/bundle-bench.js "$@"
