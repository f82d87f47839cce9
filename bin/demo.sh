#!/usr/bin/env bash
# npm run demo: installs the Node dependencies if missing, builds, and runs the demo end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
# the appliance's Git mirror uses git
if ! command -v git >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends git >/dev/null
fi
bash bin/prepare.sh
node dist/bin/demo.js "${1:-demo}"
