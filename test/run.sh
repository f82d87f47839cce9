#!/usr/bin/env bash
# npm test: installs what the tests need (Debian packages, Node dependencies with npm ci), builds, lints, type-checks,
# then runs the whole suite. The tests start their own registries and git servers on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/setup/install-deps.sh
# A real kube-apiserver, etcd and kube-controller-manager for the reconcile tests: built once from Debian's own
# sources and cached under /var/cache/airlock-kube (about 8 to 12 minutes cold, nothing when cached).
bash test/setup/kube-build.sh >/dev/null
# helm v4 and kubectl v1.33 (kustomize built in), the clients users have, first on the tests' PATH.
PATH="$(bash test/setup/kube-tools.sh | tail -1):$PATH"
export PATH
bash bin/prepare.sh
npx tsc -p tsconfig.test.json
npx eslint .
# Every temporary file of the run (registries' storage, bundles, repositories) lives under one directory that is
# removed at the end, whatever the outcome.
TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/airlock-test.XXXXXX")"
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
npx vitest run "$@"
