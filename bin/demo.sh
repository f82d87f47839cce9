#!/usr/bin/env bash
# npm run demo: installs the Node dependencies if missing, builds, and runs the demo end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
# the appliance's Git mirror uses git
if ! command -v git >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends git >/dev/null
fi
# (re)install when node_modules is missing or older than the lockfile
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund
fi
npx tsc -p tsconfig.json
node dist/bin/demo.js "${1:-demo}"
