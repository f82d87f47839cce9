#!/usr/bin/env bash
# Builds a real kube-apiserver and kube-controller-manager (Kubernetes 1.20.2) from Debian's own source package,
# once, and caches the binaries outside the checkout. Prints the cache directory on stdout.
#
# The facts this script turns into a recipe are in the shared K8S-TESTING.md: GOPATH mode with Go 1.19,
# `make gen_openapi` first, and the vendored reflect2/json-iterator replaced by Debian's (the vendored reflect2
# crashes under Go >= 1.18 on the first server-side apply of a custom resource).
#
# Idempotent: a cache hit costs nothing. A cold build takes about 12 minutes on 2 cores.
# With --check: print the directory and exit 0 when cached, exit 3 without building when not.
set -euo pipefail

RECIPE=1                                   # bump when the recipe below changes what is built
VERSION=1.20.2
CACHE_ROOT="${AIRLOCK_KUBE_CACHE:-/var/cache/airlock-kube}"
OUT="$CACHE_ROOT/v$VERSION-r$RECIPE"

if [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/kube-controller-manager" ] && command -v etcd >/dev/null; then
  echo "$OUT"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  exit 3
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "kube-build: need root (or sudo) for apt-get and $CACHE_ROOT" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive

# A deb-src entry derived from the machine's own Debian sources (no host name is written here).
SRC_LIST=/etc/apt/sources.list.d/airlock-deb-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: *deb *$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $SUDO tee "$SRC_LIST" >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | $SUDO tee /etc/apt/sources.list.d/airlock-deb-src.list >/dev/null
  else
    echo "kube-build: no Debian sources entry to derive a deb-src entry from" >&2
    exit 1
  fi
fi

echo "kube-build: installing build ingredients (etcd-server, golang-go, reflect2, json-iterator)" >&2
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends etcd-server golang-go dpkg-dev make rsync \
  golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev >/dev/null

WORK="$(mktemp -d "${TMPDIR:-/tmp}/airlock-kube-build.XXXXXX")"
[ -n "${AIRLOCK_KUBE_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
echo "kube-build: fetching the Debian source package kubernetes into $WORK" >&2
(cd "$WORK" && apt-get source -qq kubernetes >/dev/null 2>&1) || {
  echo "kube-build: apt-get source kubernetes failed" >&2
  exit 1
}
SRC_DIR="$(find "$WORK" -maxdepth 1 -mindepth 1 -type d -name 'kubernetes-*' | head -n 1)"
[ -n "$SRC_DIR" ] || { echo "kube-build: no source tree unpacked" >&2; exit 1; }

export GOPATH="$WORK/gopath"
TREE="$GOPATH/src/k8s.io/kubernetes"
mkdir -p "$(dirname "$TREE")"
mv "$SRC_DIR" "$TREE"

# Debian's reflect2 and json-iterator in place of the vendored ones (non-test sources only).
for pkg in github.com/modern-go/reflect2 github.com/json-iterator/go; do
  rm -rf "$TREE/vendor/$pkg"
  mkdir -p "$TREE/vendor/$pkg"
  (cd "/usr/share/gocode/src/$pkg" && find . -type f -name '*.go' ! -name '*_test.go' -exec cp --parents {} "$TREE/vendor/$pkg/" \;)
done

export GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=
export GOCACHE="${AIRLOCK_KUBE_GOCACHE:-$CACHE_ROOT/go-build}"
$SUDO mkdir -p "$CACHE_ROOT" "$GOCACHE"
cd "$TREE"
echo "kube-build: make gen_openapi" >&2
make gen_openapi >/dev/null
for cmd in kube-apiserver kube-controller-manager; do
  echo "kube-build: go build ./cmd/$cmd" >&2
  go build -o "$WORK/bin/$cmd" "./cmd/$cmd"
done
$SUDO mkdir -p "$OUT.tmp"
$SUDO cp "$WORK/bin/kube-apiserver" "$WORK/bin/kube-controller-manager" "$OUT.tmp/"
$SUDO rm -rf "$OUT"
$SUDO mv "$OUT.tmp" "$OUT"
echo "$OUT"
