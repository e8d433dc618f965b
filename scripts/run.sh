#!/usr/bin/env bash
# Sets up the workspace if needed and runs the cpy command: the README's main command.
#
#   bash scripts/run.sh doctor            check this host for a CPython build
#   bash scripts/run.sh <command> [...]   any cpy command (bash scripts/run.sh --help)
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  printf 'cpy: installing dependencies (npm ci)\n' >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
npx --no-install nx run cli:build --output-style=static >/dev/null 2>&1 \
  || npx --no-install nx run cli:build --output-style=static >&2
exec node apps/cli/bin/cpy.js "$@"
