#!/bin/sh
# Installs what building CPython with cpy needs, with the system's package
# manager: the C toolchain, the development headers of every module cpy checks
# (critical and optional), and the binutils/patchelf the artifact step uses.
# One script for every builder: this host, build containers, the Vagrant VM.
# Idempotent; run as root. POSIX sh, so it runs in minimal images (Alpine too).
#
#   sh libs/build/provision/provision-builder.sh
#   CPY_PROVISION_EXCLUDE="libssl-dev" sh libs/build/provision/provision-builder.sh   (leave some out)
#   CPY_PROVISION_TARGET_ARCH=aarch64 sh libs/build/provision/provision-builder.sh      (a cross build)
#
# A cross build (Debian and Ubuntu only: multiarch): CPY_PROVISION_TARGET_ARCH names the target
# as `uname -m` does (aarch64). When it is not this system's architecture, the script adds the
# target's dpkg architecture (arm64) and installs the tools, crossbuild-essential-<arch>,
# qemu-user-static (to run target code: the module check, the validation) and DEBIAN_LIBS, the
# same library list a native build uses, for the target (libssl-dev:arm64 ...), plus zlib1g-dev
# for the native python3 the cross build runs (CPython needs one of the same version).
#
# The package lists cover BUILD_REQUIREMENTS in libs/build/src/requirements.ts
# (a unit test keeps them in step).
set -eu

log() { printf '[provision-builder] %s\n' "$*" >&2; }
die() { printf '[provision-builder] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages)"

# The builder's own tools, then the libraries whose -dev packages the modules need.
DEBIAN_TOOLS="gcc libc6-dev make pkg-config xz-utils binutils patchelf ca-certificates"
DEBIAN_LIBS="libssl-dev libsqlite3-dev uuid-dev liblzma-dev libbz2-dev libffi-dev zlib1g-dev libreadline-dev libncurses-dev libgdbm-dev libgdbm-compat-dev tk-dev"
DEBIAN_PACKAGES="$DEBIAN_TOOLS $DEBIAN_LIBS"
RHEL_PACKAGES="gcc make pkgconf-pkg-config xz binutils patchelf tar ca-certificates openssl-devel sqlite-devel libuuid-devel xz-devel bzip2-devel libffi-devel zlib-devel readline-devel ncurses-devel gdbm-devel tk-devel"
ALPINE_PACKAGES="gcc musl-dev make pkgconf xz binutils patchelf tar ca-certificates openssl-dev sqlite-dev util-linux-dev xz-dev bzip2-dev libffi-dev zlib-dev readline-dev ncurses-dev gdbm-dev tk-dev"

# not_installed PACKAGE...: those dpkg does not have installed, each after a space (empty: none).
not_installed() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf ' %s' "$p"
  done
}
without() { # list, excluded -> list
  out=""
  for p in $1; do
    case " ${CPY_PROVISION_EXCLUDE:-} " in *" $p "*) ;; *) out="$out $p" ;; esac
  done
  echo "$out"
}

# The dpkg architecture of a `uname -m` name.
dpkg_arch() {
  case "$1" in
    x86_64) echo amd64 ;; aarch64) echo arm64 ;; armhf | armv7l) echo armhf ;; i386 | i686) echo i386 ;;
    ppc64le) echo ppc64el ;; s390x) echo s390x ;; riscv64) echo riscv64 ;; *) echo "$1" ;;
  esac
}

cross=""
# (--arch naming the builder's own architecture is a native build, on any distribution.)
if [ -n "${CPY_PROVISION_TARGET_ARCH:-}" ] && [ "$CPY_PROVISION_TARGET_ARCH" != "$(uname -m)" ]; then
  command -v dpkg >/dev/null 2>&1 || die "a cross build (CPY_PROVISION_TARGET_ARCH=$CPY_PROVISION_TARGET_ARCH) needs Debian or Ubuntu (dpkg multiarch)"
  target=$(dpkg_arch "$CPY_PROVISION_TARGET_ARCH")
  [ "$target" = "$(dpkg --print-architecture)" ] || cross=$target
fi

if [ -n "$cross" ]; then
  packages="$(without "$DEBIAN_TOOLS") zlib1g-dev crossbuild-essential-$cross qemu-user-static"
  for p in $(without "$DEBIAN_LIBS"); do packages="$packages $p:$cross"; done
  # shellcheck disable=SC2086
  missing=$(not_installed $packages)
  if [ -n "$missing" ]; then
    log "cross build for $cross: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    dpkg --add-architecture "$cross"
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    log "all cross build packages for $cross are installed"
  fi
elif command -v apt-get >/dev/null 2>&1; then
  packages=$(without "$DEBIAN_PACKAGES")
  # shellcheck disable=SC2086
  missing=$(not_installed $packages)
  if [ -n "$missing" ]; then
    log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    log "all build packages are installed"
  fi
elif command -v dnf >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  dnf install -y -q $(without "$RHEL_PACKAGES")
elif command -v apk >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  apk add --no-cache -q $(without "$ALPINE_PACKAGES")
else
  die "no apt-get, dnf or apk here: install a C compiler, make, pkg-config, xz and the development headers of OpenSSL, SQLite, libuuid, liblzma, libbz2, libffi, zlib and readline by hand"
fi
