#!/usr/bin/env node
// How fast does Nx replay an unchanged build? `nx run cli:build-cpython` once with
// --skip-nx-cache (a real build: fetch, verify, configure, make, pack, validate),
// then again with nothing changed: the second run must come from the Nx cache.
//
//   node bench/nx-replay.mjs [version]
import { spawnSync } from 'node:child_process';
import { reportRows } from './common.mjs';

const version = process.argv[2] ?? '3.13.5';
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };

function nx(extra) {
  const t = performance.now();
  const r = spawnSync('npx', ['--no-install', 'nx', 'run', 'cli:build-cpython', `--version=${version}`, '--output-style=static', ...extra], { env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`nx run cli:build-cpython failed:\n${(r.stderr || r.stdout).split('\n').slice(-20).join('\n')}`);
  return { seconds: (performance.now() - t) / 1000, out: r.stdout + r.stderr };
}

const build = nx(['--skip-nx-cache']);
const replay = nx([]);
if (!/existing outputs match the cache|\[local cache\]|read the output from the cache/i.test(replay.out)) throw new Error('the second run was not a cache hit');
console.log(`nx run cli:build-cpython (${version}): build ${build.seconds.toFixed(1)} s, replay from the Nx cache ${replay.seconds.toFixed(1)} s, ratio ${(replay.seconds / build.seconds).toFixed(4)}`);
await reportRows([{ bench: 'Nx cache replay of an unchanged build', baseline: 'the build itself', unit: 's', baselineValue: build.seconds, value: replay.seconds, goal: 'a cache hit' }]);
