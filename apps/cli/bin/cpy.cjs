#!/usr/bin/env node
// The `cpy` command: ../dist/cpy/main.cjs, built by `nx run cli:build` (tsc, then scripts/bundle.mjs).
// CommonJS, as that entry is: `cpy --version` and `--help` start without Node's ES module loader
// (about 10 ms); a command loads its own code when it runs (ES modules, or for the install-path
// commands CommonJS with V8's code cache: src/code-cache.ts).
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const entry = join(__dirname, '..', 'dist', 'cpy', 'main.cjs');
if (!existsSync(entry)) {
  process.stderr.write('cpy: the CLI is not built yet. Run `npx nx run cli:build` first.\n');
  process.exit(1);
}
// A reader that stops early (`cpy list --available | head -1`, `| grep -q`) closes the pipe: what
// is left to say is dropped, and the command finishes what it does (an install is not cut short by
// its reader going away). It was an unhandled 'error' event: a stack trace, exit 1.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error && (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED')) return;
    throw error;
  });
}
require(entry)
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      // main() answers every error itself; one that escapes it is a bug, said as main says one.
      process.stderr.write(`error [CPY_CLI_INTERNAL]: ${error && error.message ? error.message : String(error)}\n  hint: this is a bug in cpy; please report it with the command you ran (CPY_DEBUG=1 prints where it happened)\n`);
      process.exitCode = 1;
    },
  );
