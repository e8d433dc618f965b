#!/bin/sh
# Compiles CPython the way compile-from-source Features do, as the baseline of bench/feature.mjs.
set -eu
case $SOURCEURL in http://* | https://*) ;; *) echo "sourceUrl must be an http(s) URL" >&2; exit 1 ;; esac
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends build-essential pkg-config curl ca-certificates xz-utils \
  libssl-dev libffi-dev libncurses-dev zlib1g-dev libbz2-dev libreadline-dev libsqlite3-dev liblzma-dev \
  uuid-dev libgdbm-dev libexpat1-dev >/dev/null
mkdir -p /tmp/cpython-src
curl -fsSL "$SOURCEURL" | tar -xJ -C /tmp/cpython-src --strip-components=1
cd /tmp/cpython-src
./configure --prefix=/usr/local/python --enable-shared LDFLAGS='-Wl,-rpath,/usr/local/python/lib' >/dev/null
make -j"$(nproc)" >/dev/null
make install >/dev/null
cd /
rm -rf /tmp/cpython-src
/usr/local/python/bin/python3 -c 'import ssl, sqlite3, uuid, lzma, bz2, ctypes, zlib, readline'
