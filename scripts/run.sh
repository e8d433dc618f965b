#!/usr/bin/env bash
# Sets up the workspace if needed and runs the cpy command: the README's main command.
#
#   bash scripts/run.sh build 3.13.5      build, pack and validate CPython 3.13.5 (dist/artifacts/)
#   bash scripts/run.sh doctor            check this host for a CPython build
#   bash scripts/run.sh <command> [...]   any cpy command (bash scripts/run.sh --help)
#
# For `build`, as root it first installs the build dependencies
# (libs/build/provision/provision-builder.sh). When ../shared/fixtures/cpython is
# there and CPY_PYTHON_MIRRORS is not set, its releases are offered as a local
# mirror (laid out like python.org's, in .cpy/mirror) before python.org itself.
#
# The set-up runs in the checkout; the command runs where it was started, as an installed cpy
# would: relative paths (--from ./x.tgz, --out, a venv), .python-version and dist/artifacts are
# the caller's.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/.."
root=$PWD
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  printf 'cpy: installing dependencies (npm ci)\n' >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
npx --no-install nx run cli:build --output-style=static >/dev/null 2>&1 \
  || npx --no-install nx run cli:build --output-style=static >&2

if [ "${1:-}" = build ]; then
  if [ "$(id -u)" -eq 0 ]; then sh libs/build/provision/provision-builder.sh; fi
  # CPY_FIXTURES_DIR, relative to where this was run from (as the tests read it); by default the
  # shared folder beside this repository.
  case ${CPY_FIXTURES_DIR:-} in
    '') fixtures=../shared/fixtures/cpython ;;
    /*) fixtures=$CPY_FIXTURES_DIR ;;
    *) fixtures=$caller/$CPY_FIXTURES_DIR ;;
  esac
  if [ -z "${CPY_PYTHON_MIRRORS:-}" ] && [ -d "$fixtures" ]; then
    for f in "$fixtures"/Python-*.t*; do
      name=$(basename "$f")
      version=$(printf '%s' "$name" | sed -E 's/^Python-([0-9]+\.[0-9]+\.[0-9]+).*/\1/')
      mkdir -p ".cpy/mirror/$version"
      ln -sf "$(cd "$(dirname "$f")" && pwd)/$name" ".cpy/mirror/$version/$name"
    done
    export CPY_PYTHON_MIRRORS="$PWD/.cpy/mirror https://www.python.org/ftp/python"
  fi
fi
cd "$caller"
exec node "$root/apps/cli/bin/cpy.cjs" "$@"
