#!/usr/bin/env bash
# Installs the real components the tests use, from Debian's packages, when they are missing:
# docker-registry (CNCF distribution), skopeo, containerd (ctr), git, openssl, GNU time, htpasswd, and Chromium for
# the web UI's browser tests (driven by playwright-core).
set -euo pipefail
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v git >/dev/null || need+=(git)
command -v openssl >/dev/null || need+=(openssl)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v containerd >/dev/null || need+=(containerd)
command -v podman >/dev/null || need+=(podman)
[ -x /usr/bin/time ] || need+=(time)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/lib/git-core/git-http-backend ] || need+=(git)
command -v zsh >/dev/null || need+=(zsh); command -v fish >/dev/null || need+=(fish) # airlock completion tests
command -v strace >/dev/null || need+=(strace)
command -v unzip >/dev/null || need+=(unzip) # test/setup/kube-tools.sh
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${need[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
