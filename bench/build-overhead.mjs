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
import { parseArgs } from 'node:util';
import { buildCPython, configureArguments, fetchSource, parseBuildSpec } from '@cpy/build';

const { values, positionals } = parseArgs({ options: { rounds: { type: 'string', default: '1' } }, allowPositionals: true });
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
  try {
    const started = performance.now();
    await sh(`mkdir src && tar -xf ${quote(source.path)} -C src --strip-components=1`, dir);
    await sh(`./configure ${configureArguments(spec).map(quote).join(' ')} > ../configure.log 2>&1`, join(dir, 'src'));
    await sh(`make -j${jobs} > ../make.log 2>&1`, join(dir, 'src'));
    await sh(`make install DESTDIR=${quote(join(dir, 'staging'))} > ../install.log 2>&1`, join(dir, 'src'));
    return performance.now() - started;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function cpy() {
  const dir = await mkdtemp(join(tmpdir(), 'cpy-bench-cpy-'));
  try {
    const started = performance.now();
    await buildCPython({ spec, source, workDir: dir });
    return performance.now() - started;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const results = { raw: [], cpy: [] };
for (let i = 0; i < rounds; i++) {
  // Alternate the order so neither side always runs on a warmer page cache.
  const order = i % 2 === 0 ? ['raw', 'cpy'] : ['cpy', 'raw'];
  for (const which of order) {
    const ms = which === 'raw' ? await raw() : await cpy();
    results[which].push(ms);
    console.log(`round ${i + 1} ${which.padEnd(3)} ${(ms / 1000).toFixed(1)} s`);
  }
}
const total = (xs) => xs.reduce((a, b) => a + b, 0);
const ratio = total(results.cpy) / total(results.raw);
console.log(`cpy build / raw configure+make: ${ratio.toFixed(3)} (goal <= 1.03; ${rounds} round(s), make -j${jobs}, Python ${version})`);
