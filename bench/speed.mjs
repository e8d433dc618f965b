#!/usr/bin/env node
// How much faster is the release profile (PGO + LTO) than the fast profile? Runs
// bench/workload.py (pure-Python benchmarks, best of N) with both interpreters in
// the same session and prints the time ratio per benchmark and overall (geometric mean).
//
//   node bench/speed.mjs --fast <python3> --release <python3> [--rounds N]
//   node bench/speed.mjs --build-release [version]     builds the release profile first (about an hour on 2 cores)
//
// Default --fast: python3 of the newest finished fast build in the cpy cache.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { reportRows } from './common.mjs';

const run = promisify(execFile);
const { values, positionals } = parseArgs({
  options: { fast: { type: 'string' }, release: { type: 'string' }, 'build-release': { type: 'boolean' }, rounds: { type: 'string', default: '3' } },
  allowPositionals: true,
});
const cacheRoot = process.env.CPY_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cpy');

async function newestBuildPython(profile) {
  const root = join(cacheRoot, 'builds');
  const found = [];
  for (const d of await readdir(root).catch(() => [])) {
    const file = join(root, d, 'build-result.json');
    if (!existsSync(file)) continue;
    const r = JSON.parse(await readFile(file, 'utf8'));
    if (r.profile === profile) found.push({ python: join(r.installDir, 'bin', 'python3'), t: (await stat(file)).mtimeMs });
  }
  if (!found.length) throw new Error(`no finished ${profile} build in ${root}: run \`npx nx run cli:build-cpython\`${profile === 'release' ? ' --profile=release' : ''} first, or pass --${profile}`);
  return found.sort((a, b) => b.t - a.t)[0].python;
}

if (values['build-release']) {
  const version = positionals[0] ?? '3.13.5';
  const out = await mkdtemp(join(tmpdir(), 'cpy-bench-release-'));
  console.error(`building CPython ${version} with the release profile (PGO + LTO); this takes a while`);
  await run(process.execPath, [resolve('apps/cli/bin/cpy.js'), 'build', version, '--profile', 'release', '--build', '99', '--out', out, '--no-validate'], { maxBuffer: 256 * 1024 * 1024 });
}
const fast = values.fast ?? (await newestBuildPython('fast'));
const release = values.release ?? (await newestBuildPython('release'));

async function workload(python) {
  const { stdout } = await run(python, [resolve('bench/workload.py'), values.rounds], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout);
}
const a = await workload(fast);
const b = await workload(release);
const names = Object.keys(a);
let logSum = 0;
for (const n of names) {
  const ratio = b[n] / a[n];
  logSum += Math.log(ratio);
  console.log(`${n.padEnd(16)} fast ${a[n].toFixed(3)} s   release ${b[n].toFixed(3)} s   ratio ${ratio.toFixed(3)}`);
}
const geo = Math.exp(logSum / names.length);
console.log(`geometric mean ratio release / fast: ${geo.toFixed(3)} (lower is faster)`);
const total = (r) => names.reduce((s, n) => s + r[n], 0);
await reportRows([{ bench: 'interpreter speed, release (PGO+LTO)', baseline: 'the fast profile', unit: 's', baselineValue: total(a), value: total(b), goal: 'ratio < 1' }]);
