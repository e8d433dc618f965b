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
require(entry)
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
