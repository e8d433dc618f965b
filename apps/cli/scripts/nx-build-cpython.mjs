#!/usr/bin/env node
// `nx run cli:build-cpython` -> `cpy build`. Nx hands the target's options over
// as --name=value flags (defaults in apps/cli/package.json); this maps them to
// the CLI's arguments and puts the artifact where the target's `outputs` say,
// so Nx can cache it and replay it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    version: { type: 'string' },
    build: { type: 'string' },
    profile: { type: 'string' },
    builder: { type: 'string' },
    image: { type: 'string' },
    arch: { type: 'string' },
    jobs: { type: 'string' },
    out: { type: 'string' },
    runTests: { type: 'string' },
    json: { type: 'boolean' },
  },
  strict: true,
});
if (!values.version) {
  console.error('error [CPY_CLI_USAGE]: --version is required, e.g. nx run cli:build-cpython --version=3.13.5');
  process.exit(2);
}
const args = [values.version, '--build', values.build ?? '1', '--profile', values.profile ?? 'fast', '--builder', values.builder ?? 'host'];
if (values.image) args.push('--image', values.image);
if (values.arch) args.push('--arch', values.arch);
if (values.jobs) args.push('--jobs', values.jobs);
if (values.runTests) args.push('--run-tests', values.runTests);
args.push('--out', values.out ?? 'dist/artifacts');
if (values.json) args.push('--json');
const bin = fileURLToPath(new URL('../bin/cpy.cjs', import.meta.url));
const r = spawnSync(process.execPath, [bin, 'build', ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
