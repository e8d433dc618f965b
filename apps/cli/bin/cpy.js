#!/usr/bin/env node
// The `cpy` command. The code lives in ../dist (built by `nx run cli:build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('cpy: the CLI is not built yet. Run `npx nx run cli:build` first.\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
