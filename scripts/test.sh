#!/usr/bin/env bash
# Sets up everything the tests need and runs them all: the README's test command.
#
#   bash scripts/test.sh            everything (as root: installs podman, base images)
#   CPY_SKIP_INTEGRATION=1 bash scripts/test.sh   lint, typecheck, build and unit tests only
#
# Steps: npm ci; podman and the minimal Debian base images (scripts/setup-containers.sh) and
# this host's CPython build dependencies (libs/build/provision/provision-builder.sh);
# nx sync:check; lint, typecheck, build, unit tests; the integration suites (real
# containers, npm pack, lint violations) and the end-to-end suite (tools/e2e), in two lanes
# at once; a second run that must replay from the Nx cache; and a closing line
# "tests: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false FORCE_COLOR=0
# Set below for one Jest run at a time; inherited, it would rename every project's counts.
unset CPY_TALLY_PART
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

rm -f {libs,apps,tools}/*/test-output/{integration,e2e}/results*.json
status=0
# On any exit: lane B (below) goes, while it runs, with its Nx, Jest and what they started (its
# own process group); then the counts.
lane_b=
# shellcheck disable=SC2317 # run by the EXIT trap
on_exit() {
  { [ -z "$lane_b" ] || kill -TERM -- "-$lane_b"; } 2>/dev/null || true
  step "summary"
  node tools/scripts/tally.mjs || true
}
trap on_exit EXIT

step "workspace in sync (TypeScript project references)"
nx sync:check

step "lint, typecheck, build, unit tests"
nx run-many -t lint typecheck build test --output-style=static || status=1

if [ -z "${CPY_SKIP_INTEGRATION:-}" ]; then
  # Two lanes at once, each one suite at a time: most suites keep one core busy (one process after
  # another, containers, loopback servers), and the two CPython builds want both. Lane A, shown as
  # it runs: build-real (a real build in a container), then the end-to-end suite (a real build on
  # this host, then Dev Containers). Lane B, in the background, shown when it ends: the Feature
  # (the conformance table, the Dev Containers CLI), then every other integration suite, libs/build's
  # other suites last (a part of their own in the tally: CPY_TALLY_PART). About 30 minutes each.
  # The e2e starts only once the Feature's suites are done: the devcontainer suite removes every
  # image made while it ran. The builds above are done, so neither lane runs build tasks.
  lanes=tmp/test-lanes
  rm -rf "$lanes" && mkdir -p "$lanes"
  suites() { nx run-many --excludeTaskDependencies --parallel=1 --output-style=static "$@"; }
  step "integration and end-to-end tests, in two lanes (lane B's output follows lane A's; it is also in $lanes/b.log)"
  set -m
  (
    set +m # one process group for all of it: what the suites start is not a job of its own
    rc=0; suites -t integration -p feature || rc=$?; echo "$rc" >"$lanes/feature.rc"
    rc=0; suites -t integration --exclude feature,build || rc=$?
    CPY_TALLY_PART=other suites -t integration -p build --testPathIgnorePatterns=build-real || rc=1; echo "$rc" >"$lanes/rest.rc"
  ) >"$lanes/b.log" 2>&1 &
  lane_b=$!
  set +m
  # Lane B's Nx reads the workspace first, alone (up to a minute): two Nx processes starting on the
  # same .nx/workspace-data at the same moment is the case Nx has had races in.
  for _ in $(seq 60); do grep -q 'Running target' "$lanes/b.log" 2>/dev/null && break; kill -0 "$lane_b" 2>/dev/null || break; sleep 1; done

  step "lane A: build-real, libs/build's integration suite (a real CPython build in a container)"
  CPY_TALLY_PART=build-real suites -t integration -p build --testPathPatterns=build-real || status=1
  while [ ! -e "$lanes/feature.rc" ] && kill -0 "$lane_b" 2>/dev/null; do sleep 5; done
  step "lane A: end to end: build, validate, publish, install in a Dev Container and on the host"
  suites -t e2e -p e2e || status=1

  wait "$lane_b" || true
  lane_b=
  step "lane B: integration tests (the Feature, then containers, packing, boundaries, the CLI, the build library's others)"
  cat "$lanes/b.log"
  for rc in feature rest; do [ "$(cat "$lanes/$rc.rc" 2>/dev/null)" = 0 ] || status=1; done
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
