#!/usr/bin/env node
// How much does `cpy build` add to the configure + make it runs? Same flags,
// same machine, same session: a raw `tar; ./configure; make -jN; make install`
// (the baseline) and buildCPython on the host builder, then the ratio
// cpy / raw. The goal is <= 1.03. Run after `npx nx run build:build`:
//
//   node bench/build-overhead.mjs [version] [--rounds N]
//
// Sources come from the cache or the mirrors as `cpy source fetch` gets them
// (CPY_PYTHON_MIRRORS; scripts/run.sh sets up a local mirror from the fixtures).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCPython, configureArguments, fetchSource, parseBuildSpec } from '@cpy/build';
import { benchArgs, reportRows } from './common.mjs';

const { values, positionals } = benchArgs(import.meta.url, { rounds: { type: 'string', default: '1' } });
const version = positionals[0] ?? '3.13.5';
const rounds = Number(values.rounds);

function sh(command, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command}: exit ${code}`))));
  });
}

const source = await fetchSource(version);
const spec = parseBuildSpec({ version });
const jobs = availableParallelism();
const quote = (a) => `'${a.replace(/'/g, `'\\''`)}'`;

async function raw() {
  const dir = await mkdtemp(join(tmpdir(), 'cpy-bench-raw-'));
  const phases = {};
  const timed = async (name, command, cwd) => {
    const t = performance.now();
    await sh(command, cwd);
    phases[name] = performance.now() - t;
  };
  try {
    const started = performance.now();
    await timed('extract', `mkdir src && tar -xf ${quote(source.path)} -C src --strip-components=1`, dir);
    await timed('configure', `./configure ${configureArguments(spec).map(quote).join(' ')} > ../configure.log 2>&1`, join(dir, 'src'));
    await timed('make', `make -j${jobs} > ../make.log 2>&1`, join(dir, 'src'));
    await timed('install', `make install DESTDIR=${quote(join(dir, 'staging'))} > ../install.log 2>&1`, join(dir, 'src'));
    return { ms: performance.now() - started, phases };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function cpy() {
  const dir = await mkdtemp(join(tmpdir(), 'cpy-bench-cpy-'));
  try {
    const started = performance.now();
    const result = await buildCPython({ spec, source, workDir: dir });
    return { ms: performance.now() - started, phases: result.durationsMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const results = { raw: [], cpy: [] };
for (let i = 0; i < rounds; i++) {
  // Alternate the order so neither side always runs on a warmer page cache.
  const order = i % 2 === 0 ? ['raw', 'cpy'] : ['cpy', 'raw'];
  for (const which of order) {
    const run = which === 'raw' ? await raw() : await cpy();
    results[which].push(run);
    const detail = Object.entries(run.phases).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(', ');
    console.log(`round ${i + 1} ${which.padEnd(3)} ${(run.ms / 1000).toFixed(1)} s  (${detail})`);
  }
}
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const phaseTotal = (which, name) => sum(results[which].map((r) => r.phases[name] ?? 0)) / rounds / 1000;
const names = [...new Set([...results.cpy, ...results.raw].flatMap((r) => Object.keys(r.phases)))];
console.log('\nmean seconds per phase   raw      cpy');
for (const name of names) console.log(`  ${name.padEnd(20)} ${phaseTotal('raw', name).toFixed(1).padStart(7)}  ${phaseTotal('cpy', name).toFixed(1).padStart(7)}`);
const ratio = sum(results.cpy.map((r) => r.ms)) / sum(results.raw.map((r) => r.ms));
console.log(`cpy build / raw configure+make: ${ratio.toFixed(3)} (goal <= 1.03; ${rounds} round(s), make -j${jobs}, Python ${version})`);
await reportRows([
  { bench: `cpy build ${version} (fast)`, baseline: 'raw configure + make + make install', unit: 's', baselineValue: sum(results.raw.map((r) => r.ms)) / rounds / 1000, value: sum(results.cpy.map((r) => r.ms)) / rounds / 1000, goal: 'ratio <= 1.03' },
]);
