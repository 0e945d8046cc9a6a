#!/usr/bin/env bash
# Installs everything ocibuild's tests and examples need on a fresh Debian 12 machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(docker-registry skopeo umoci crun runc buildah busybox-static pigz apache2-utils openssl git
      bubblewrap fuse-overlayfs uidmap attr iproute2 xz-utils bzip2 zstd hyperfine tmux openssh-client)
PKGS+=(time)  # npm run bench: CPU seconds and peak RSS (/usr/bin/time), which a minimal Debian lacks
PKGS+=(debootstrap procps strace)  # the RUN tests: the Debian base image (test/debian-image.ts); ps for the Ctrl-C test; strace counts the files a warm rebuild opens
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
npm ci --no-audit --no-fund
npm run build
