#!/usr/bin/env bash
# npm run demo: installs the Node dependencies if missing, builds, and runs the demo end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npx tsc -p tsconfig.json
node dist/bin/demo.js "${1:-demo}"
