#!/bin/sh
# Installs Node.js (for the cpy CLI) from the official binaries, checked against the
# release's SHASUMS256.txt, into /usr/local. Idempotent; run as root.
#
#   sh vagrant/provision-node.sh 20.19.5
#   CPY_NODE_MIRROR=https://nodejs.org/dist sh vagrant/provision-node.sh 20.19.5
set -eu

log() { printf '[provision-node] %s\n' "$*" >&2; }
die() { printf '[provision-node] error: %s\n' "$*" >&2; exit 1; }

version=${1:-20.19.5}
mirror=${CPY_NODE_MIRROR:-https://nodejs.org/dist}
printf '%s\n' "$version" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' || die "not a Node.js version: $version"
[ "$(id -u)" -eq 0 ] || die "run as root (it writes /usr/local)"

if command -v node >/dev/null 2>&1 && [ "$(node --version)" = "v$version" ]; then
  log "Node.js $version is installed"
  exit 0
fi

case $(uname -m) in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) die "no Node.js binaries for $(uname -m)" ;;
esac
name=node-v$version-linux-$arch.tar.xz

if ! command -v curl >/dev/null 2>&1 || ! command -v xz >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "install curl and xz, then run again"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends curl ca-certificates xz-utils >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "downloading $mirror/v$version/$name"
curl -fsSL --retry 3 -o "$work/SHASUMS256.txt" "$mirror/v$version/SHASUMS256.txt" || die "cannot download $mirror/v$version/SHASUMS256.txt"
curl -fsSL --retry 3 -o "$work/$name" "$mirror/v$version/$name" || die "cannot download $mirror/v$version/$name"
grep "  $name\$" "$work/SHASUMS256.txt" >"$work/expected" || die "SHASUMS256.txt does not list $name"
(cd "$work" && sha256sum -c expected >/dev/null) || die "$name does not match its sha256 in SHASUMS256.txt"
tar -xJf "$work/$name" -C /usr/local --strip-components=1 --no-same-owner \
  "node-v$version-linux-$arch/bin" "node-v$version-linux-$arch/lib" "node-v$version-linux-$arch/include" "node-v$version-linux-$arch/share"
log "installed $(/usr/local/bin/node --version) in /usr/local"
