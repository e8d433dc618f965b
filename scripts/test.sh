#!/usr/bin/env bash
# Sets up everything the tests need and runs them all: the README's test command.
#
#   bash scripts/test.sh            everything (as root: installs podman, base images)
#   CPY_SKIP_INTEGRATION=1 bash scripts/test.sh   lint, typecheck, build and unit tests only
#
# Steps: npm ci; podman and the minimal Debian base images (scripts/setup-containers.sh) and
# this host's CPython build dependencies (libs/build/provision/provision-builder.sh);
# nx sync:check; lint, typecheck, build, unit tests; integration suites (real
# containers, npm pack, lint violations); the end-to-end suite (tools/e2e); a second
# run that must replay from the Nx cache; and a closing line "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false FORCE_COLOR=0
nx() { npx --no-install nx "$@"; }

step "prerequisites"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || die "Node.js 20.19 or newer is needed (found $(node --version))"
[ -d ../shared/fixtures/cpython ] || [ -n "${CPY_FIXTURES_DIR:-}" ] \
  || die "the CPython fixtures are missing: put shared/ beside the repository or set CPY_FIXTURES_DIR"

step "npm ci"
npm ci --no-audit --no-fund --loglevel=error
npm ls --all >/dev/null 2>npm-ls.err || { cat npm-ls.err >&2; die "the installed dependency tree is incomplete (npm ls --all)"; }
rm -f npm-ls.err

if [ -z "${CPY_SKIP_INTEGRATION:-}" ]; then
  step "containers: podman and base images; this host's build dependencies"
  if [ "$(id -u)" -eq 0 ]; then
    bash scripts/setup-containers.sh
    sh libs/build/provision/provision-builder.sh
  elif command -v sudo >/dev/null; then
    sudo bash scripts/setup-containers.sh
    sudo sh libs/build/provision/provision-builder.sh
  else
    die "scripts/setup-containers.sh and libs/build/provision/provision-builder.sh need root (or sudo)"
  fi
fi

rm -f {libs,apps,tools}/*/test-output/integration/results.json
status=0
trap 'step "summary"; node tools/scripts/tally.mjs || true' EXIT

step "workspace in sync (TypeScript project references)"
nx sync:check

step "lint, typecheck, build, unit tests"
nx run-many -t lint typecheck build test --output-style=static || status=1

if [ -z "${CPY_SKIP_INTEGRATION:-}" ]; then
  step "integration tests (containers, packing, boundaries)"
  nx run-many -t integration --parallel=1 --output-style=static || status=1

  step "end to end: build, validate, publish, install in a Dev Container and on the host"
  nx run e2e:e2e --output-style=static || status=1
fi

step "Nx cache: a second run with no change must replay everything"
replay=$(nx run-many -t lint typecheck build test --output-style=static 2>&1) || status=1
cache_line=$(printf '%s\n' "$replay" | grep -E 'Cache: +[0-9]+/[0-9]+ hit' | tail -1 || true)
echo "${cache_line:-no cache line printed}"
if [[ "$cache_line" =~ Cache:\ +([0-9]+)/([0-9]+)\ hit ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]; then
  echo "all tasks replayed from the cache"
else
  # What Nx printed instead, so that the cause shows in the log (a failed task, a missing summary).
  printf '%s\n' "$replay" | tail -n 30
  echo "error: the second run was not all cache hits" >&2
  status=1
fi

trap - EXIT
step "summary"
node tools/scripts/tally.mjs || status=1
exit $status
