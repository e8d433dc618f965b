#!/usr/bin/env node
// How much faster is the release profile (PGO + LTO) than the fast profile? Runs
// libs/lifecycle/python/workload.py (pure-Python benchmarks; `cpy compare` runs the same file)
// with both interpreters in the same session and prints the time ratio per benchmark and
// overall (geometric mean).
//
// Shared 2-core machines are noisy: one run of a benchmark can take twice as long as the next.
// So each round starts both interpreters in a fresh process, one after the other (the order
// alternates between rounds), and each benchmark keeps its fastest time over all rounds.
//
//   node bench/speed.mjs --fast <python3> --release <python3> [--rounds N]   (default 10 rounds)
//   node bench/speed.mjs --build-release [version]     builds the release profile first (about an hour on 2 cores)
//
// Default --fast: python3 of the newest finished fast build in the cpy cache.
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { benchArgs, newestFinishedBuild, reportRows } from './common.mjs';

const run = promisify(execFile);
const { values, positionals } = benchArgs(import.meta.url, { fast: { type: 'string' }, release: { type: 'string' }, 'build-release': { type: 'boolean' }, rounds: { type: 'string', default: '10' } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, not ${values.rounds}`);
const newestPython = async (profile) => join((await newestFinishedBuild(profile, `pass --${profile} <python3>`)).result.installDir, 'bin', 'python3');

if (values['build-release']) {
  const version = positionals[0] ?? '3.13.5';
  const out = await mkdtemp(join(tmpdir(), 'cpy-bench-release-'));
  console.error(`building CPython ${version} with the release profile (PGO + LTO); this takes a while`);
  await run(process.execPath, [resolve('apps/cli/bin/cpy.cjs'), 'build', version, '--profile', 'release', '--build', '99', '--out', out, '--no-validate'], { maxBuffer: 256 * 1024 * 1024 });
}
const fast = values.fast ?? (await newestPython('fast'));
const release = values.release ?? (await newestPython('release'));

async function workload(python) {
  // best of 2 inside the process (the first call warms up), fastest over the rounds outside it
  const { stdout } = await run(python, [resolve('libs/lifecycle/python/workload.py'), '2'], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout);
}
const runs = { fast: [], release: [] };
for (let i = 0; i < rounds; i++) {
  const order = i % 2 ? ['release', 'fast'] : ['fast', 'release'];
  for (const side of order) runs[side].push(await workload(side === 'fast' ? fast : release));
}
const names = Object.keys(runs.fast[0]);
const best = (side, n) => Math.min(...runs[side].map((r) => r[n]));
const worst = (side, n) => Math.max(...runs[side].map((r) => r[n]));
const geoMean = (xs) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
for (const n of names) {
  const [a, b] = [best('fast', n), best('release', n)];
  const spread = Math.max(worst('fast', n) / a, worst('release', n) / b);
  console.log(`${n.padEnd(16)} fast ${a.toFixed(3)} s   release ${b.toFixed(3)} s   ratio ${(b / a).toFixed(3)}   (slowest round ${spread.toFixed(2)}x the fastest)`);
}
const [geoFast, geoRelease] = [geoMean(names.map((n) => best('fast', n))), geoMean(names.map((n) => best('release', n)))];
console.log(`geometric mean release / fast: ${(geoRelease / geoFast).toFixed(3)} (lower is faster; ${rounds} rounds, fastest of each)`);
await reportRows([{ bench: 'interpreter speed, release (PGO+LTO), geometric mean', baseline: 'the fast profile', unit: 's', baselineValue: geoFast, value: geoRelease, goal: 'ratio < 1' }]);
