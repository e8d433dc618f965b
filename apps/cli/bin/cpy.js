#!/usr/bin/env node
// The `cpy` command: the bundle in ../dist/cpy (built by `nx run cli:build`: tsc, then scripts/bundle.mjs).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cpy/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('cpy: the CLI is not built yet. Run `npx nx run cli:build` first.\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
