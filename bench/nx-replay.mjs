#!/usr/bin/env node
// How fast does Nx replay an unchanged build? `nx run cli:build-cpython` twice with nothing
// changed between the runs: the first is a real build (fetch, verify, configure, make, pack,
// validate), the second must come from the Nx cache.
//
// Both runs use a fresh, private Nx cache (NX_CACHE_DIRECTORY), so the first run is a miss
// without `--skip-nx-cache`: since Nx 23 a run with --skip-nx-cache does not write its results
// to the cache either, so it cannot be the run that fills it. Your own cache is not touched.
//
//   node bench/nx-replay.mjs [version]
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs, reportRows } from './common.mjs';

const version = benchArgs(import.meta.url).positionals[0] ?? '3.13.5';
const cacheDir = await mkdtemp(join(tmpdir(), 'cpy-bench-nx-cache-'));
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', NX_CACHE_DIRECTORY: cacheDir };

/** One run; `hit` is whether Nx replayed cli:build-cpython itself (not merely its dependencies). */
function nx() {
  const t = performance.now();
  const r = spawnSync('npx', ['--no-install', 'nx', 'run', 'cli:build-cpython', `--version=${version}`, '--output-style=static'], { env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`nx run cli:build-cpython failed:\n${(r.stderr || r.stdout).split('\n').slice(-20).join('\n')}`);
  const out = r.stdout + r.stderr;
  const hit = /^> nx run cli:build-cpython\b.*\[(local|remote) cache\]/m.test(out) || /existing outputs match the cache/i.test(out);
  return { seconds: (performance.now() - t) / 1000, hit };
}

try {
  const build = nx();
  if (build.hit) throw new Error('the first run came from the cache: the private cache directory was not used');
  const replay = nx();
  if (!replay.hit) throw new Error('the second run was not a cache hit: an input of cli:build-cpython changed during the build (see `inputs` in apps/cli/package.json)');
  console.log(`nx run cli:build-cpython (${version}): build ${build.seconds.toFixed(1)} s, replay from the Nx cache ${replay.seconds.toFixed(1)} s, ratio ${(replay.seconds / build.seconds).toFixed(4)}`);
  await reportRows([{ bench: 'Nx cache replay of an unchanged build', baseline: 'the build itself', unit: 's', baselineValue: build.seconds, value: replay.seconds, goal: 'a cache hit' }]);
} finally {
  await rm(cacheDir, { recursive: true, force: true });
}
