#!/usr/bin/env node
// Writes src/cpython-prebuilt/devcontainer-feature.json from @cpy/install's option
// schema, and install.sh's copies of @cpy/install's install record writer (cpy_state.py)
// and of @cpy/artifact's post-install checks (postinstall.py) (the `generate` target), or
// with --check fails when a committed file is not what the libraries give (CI), so the
// Feature and the libraries cannot drift.
//
// --default-index-url <url>: an organisation's copy of the Feature, whose indexUrl
// defaults to the organisation's index (its users write only { "version": "3.13" }).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { POSTINSTALL_SOURCE } from '@cpy/artifact';
import { STATE_SCRIPT } from '@cpy/install';
import { CARRIED_SCRIPTS, FEATURE_ID, manifestText, withCarriedScript } from './manifest.js';

const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(appRoot, 'src', FEATURE_ID, 'devcontainer-feature.json');
const installSh = join(appRoot, 'src', FEATURE_ID, 'install.sh');
const { version } = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8')) as { version: string };

function usage(message: string): never {
  process.stderr.write(`error: ${message}\nusage: node apps/feature/dist/generate.js [--check] [--default-index-url <url>]\n`);
  process.exit(2);
}

let defaultIndexUrl: string | undefined;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const arg = args[i] ?? '';
  if (arg === '--check') continue;
  if (arg === '--default-index-url') {
    defaultIndexUrl = args[++i] ?? usage('--default-index-url needs a URL');
  } else if (arg.startsWith('--default-index-url=')) {
    defaultIndexUrl = arg.slice('--default-index-url='.length);
  } else {
    usage(`unknown argument ${arg}`);
  }
}

let wanted: string;
try {
  wanted = manifestText(version, defaultIndexUrl ? { defaultIndexUrl } : {});
} catch (error) {
  usage((error as Error).message);
}
const shown = relative(process.cwd(), target);
const script = withCarriedScript(
  withCarriedScript(readFileSync(installSh, 'utf8'), CARRIED_SCRIPTS.state, readFileSync(STATE_SCRIPT, 'utf8')),
  CARRIED_SCRIPTS.checks,
  readFileSync(POSTINSTALL_SOURCE, 'utf8'),
);

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
  if (readFileSync(installSh, 'utf8') !== script) {
    process.stderr.write(`error: ${relative(process.cwd(), installSh)} does not carry @cpy/install's cpy_state.py and @cpy/artifact's postinstall.py as they are.\nhint: run \`npx nx run feature:generate\` and commit the result.\n`);
    process.exit(1);
  }
  process.stdout.write(`${shown} matches the install option schema; install.sh carries cpy_state.py and postinstall.py\n`);
} else {
  writeFileSync(target, wanted);
  writeFileSync(installSh, script);
  process.stdout.write(`wrote ${shown} and install.sh's copies of cpy_state.py and postinstall.py\n`);
}
