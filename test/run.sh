#!/usr/bin/env bash
# npm test: installs what the tests need (Debian packages, Node dependencies), builds, lints, type-checks,
# then runs the whole suite. The tests start their own registries and git servers on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/setup/install-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npx tsc -p tsconfig.json
npx tsc -p tsconfig.test.json
npx eslint .
npx vitest run "$@"
