#!/usr/bin/env bash
# Installs and configures podman on Debian, then builds the minimal Debian base
# images the tests use (debootstrap, imported as local images). Idempotent: what
# is already there is kept. Run as root.
#
#   bash scripts/setup-containers.sh [suite ...]     (default suites: bookworm bullseye)
#
# Images: localhost/debian-minbase:<suite>.
set -euo pipefail

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(bookworm bullseye)

log() { printf '[setup-containers] %s\n' "$*" >&2; }
die() { printf '[setup-containers] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and writes /etc/containers/containers.conf)"
command -v apt-get >/dev/null || die "this script supports Debian/Ubuntu hosts (apt-get); install podman by hand elsewhere"

# 1. Packages: podman, runc, debootstrap; and the distribution's own python3, which the
#    installer tests repack into a small real artifact (tools/harness/src/artifact.ts), with
#    its headers and setuptools.
#    Without recommends: shellcheck and Debian's docker-registry for the Feature's tests
#    (apps/feature), vagrant for `vagrant validate` (apps/cli/test/vm.spec.ts).
missing=()
# zstd: the .tar.zst artifacts the build, pack and install tests make and install.
for cmd_pkg in podman:podman runc:runc debootstrap:debootstrap zstd:zstd; do
  command -v "${cmd_pkg%%:*}" >/dev/null || missing+=("${cmd_pkg#*:}")
done
[ -x /usr/bin/python3 ] || missing+=(python3)
# Its headers (the test artifact is laid out like a cpy build, include/ too), setuptools
# for the C extension the fidelity checks build on this host (tools/e2e/fidelity.sh): no PyPI;
# and venv with its pip and setuptools wheels, for the venv upgraded by `cpy venv upgrade` (e2e).
for pkg in python3-dev python3-setuptools python3-venv; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
lean=()
for cmd_pkg in shellcheck:shellcheck docker-registry:docker-registry vagrant:vagrant; do
  command -v "${cmd_pkg%%:*}" >/dev/null || lean+=("${cmd_pkg#*:}")
done
if [ ${#missing[@]} -gt 0 ] || [ ${#lean[@]} -gt 0 ]; then
  log "installing ${missing[*]} ${lean[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  [ ${#missing[@]} -eq 0 ] || apt-get install -y -qq "${missing[@]}" >/dev/null
  [ ${#lean[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
fi

# 2. Engine configuration. Podman's default ulimits exceed this sandbox's hard
#    limits, and crun cannot run on its hybrid cgroups: use runc and lower limits.
conf=/etc/containers/containers.conf
marker='# cpy: podman settings for sandboxed hosts'
if ! grep -qF "$marker" "$conf" 2>/dev/null; then
  [ -f "$conf" ] && cp "$conf" "$conf.cpy-backup"
  mkdir -p /etc/containers
  cat > "$conf" <<CONF
$marker
[containers]
default_ulimits = ["nofile=1000:1000", "nproc=1000:1000"]

[engine]
runtime = "runc"
CONF
  log "wrote $conf"
fi
podman info >/dev/null 2>&1 || die "podman is installed but 'podman info' fails; see its output"

# 3. Base images, built once and reused.
for suite in "${suites[@]}"; do
  image="localhost/debian-minbase:$suite"
  if podman image exists "$image"; then
    log "$image present"
    continue
  fi
  root=$(mktemp -d "/var/tmp/cpy-debootstrap-$suite.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  log "debootstrap --variant=minbase $suite (about 30 s)"
  debootstrap --variant=minbase "$suite" "$root" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; die "debootstrap $suite failed (log above)"; }
  rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
  tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
  rm -rf "$root" "$root.log"
  trap - EXIT
  log "built $image"
done
podman run --rm "localhost/debian-minbase:${suites[0]}" true || die "podman cannot run ${suites[0]}"
log "ready: podman $(podman --version | awk '{print $3}'), images: ${suites[*]}"
