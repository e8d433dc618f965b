#!/usr/bin/env node
// Writes src/cpython-prebuilt/devcontainer-feature.json from @cpy/install's option
// schema (the `generate` target), or with --check fails when the committed file is
// not what the schema gives (CI), so the Feature and the library cannot drift.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FEATURE_ID, manifestText } from './manifest.js';

const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(appRoot, 'src', FEATURE_ID, 'devcontainer-feature.json');
const { version } = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8')) as { version: string };
const wanted = manifestText(version);
const shown = relative(process.cwd(), target);

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing: reported below
  }
  if (current !== wanted) {
    process.stderr.write(`error: ${shown} is not what @cpy/install's option schema generates.\nhint: run \`npx nx run feature:generate\` and commit the result.\n`);
    process.exit(1);
  }
  process.stdout.write(`${shown} matches the install option schema\n`);
} else {
  writeFileSync(target, wanted);
  process.stdout.write(`wrote ${shown}\n`);
}
