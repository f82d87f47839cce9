#!/usr/bin/env bash
# Installs the Node dependencies exactly as the lockfile lists them (npm ci, which never rewrites it) when they are
# missing or older than the lockfile, then builds dist/.
# Used by npm run demo, npm test and npm run bench.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx tsc -p tsconfig.json
