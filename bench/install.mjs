#!/usr/bin/env node
// How fast is `installPython` on a local artifact, against the shell baseline
// `sha256sum <file> && tar xzf <file>` on the same file, in the same session?
// And how fast is the second, idempotent run? Goals (issue 6): ratio <= 1.0;
// second run under 0.1 s. Run after `npx nx run-many -t build`:
//
//   node bench/install.mjs [artifact.tgz] [--rounds N]
//
// Default artifact: the newest dist/artifacts/cpython-*.tgz (scripts/run.sh
// build makes one). cpy's time includes what the baseline does not do: reading
// the metadata, copying the artifact into the cache (the same pass as the
// hash), the install marker and the state. Validation (running the new
// python3) is measured separately, since the baseline has no equivalent.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { installPython } from '@cpy/install';
import { benchArgs, median, newestArtifact, reportRows } from './common.mjs';

const run = promisify(execFile);
const { values, positionals } = benchArgs(import.meta.url, { rounds: { type: 'string', default: '5' } });
const rounds = Number(values.rounds);

const artifact = resolve(positionals[0] ?? (await newestArtifact()));
const work = await mkdtemp(join(tmpdir(), 'cpy-bench-install-'));
const ms = (t) => performance.now() - t;

async function baseline(i) {
  const dest = join(work, `tar-${i}`);
  await run('mkdir', ['-p', dest]);
  const t = performance.now();
  await run('sh', ['-c', 'sha256sum "$1" >/dev/null && tar xzf "$1" -C "$2"', 'sh', artifact, dest]);
  return ms(t);
}

async function cpy(i, skipValidation) {
  const root = join(work, `cpy-${i}-${skipValidation}`);
  const options = { artifactUrl: artifact, installPrefix: join(root, 'python'), stateDir: join(root, 'state'), cacheDir: join(root, 'cache'), binDir: null, skipValidation };
  const t = performance.now();
  await installPython(options);
  const first = ms(t);
  const t2 = performance.now();
  const again = await installPython(options);
  const second = ms(t2);
  if (again.status !== 'already-installed') throw new Error('the second run was not idempotent');
  return { first, second };
}

const results = { baseline: [], cpy: [], validated: [], second: [] };
try {
  for (let i = 0; i < rounds; i++) {
    // Alternate the order so neither side always runs on a warmer page cache.
    const b = i % 2 === 0 ? await baseline(i) : null;
    const c = await cpy(i, true);
    const v = await cpy(i, false);
    results.baseline.push(b ?? (await baseline(i)));
    results.cpy.push(c.first);
    results.validated.push(v.first);
    results.second.push(c.second, v.second);
    await rm(join(work), { recursive: true, force: true });
    await run('mkdir', ['-p', work]);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
const s = (x) => `${(x / 1000).toFixed(3)} s`;
console.log(`artifact: ${artifact} (${((await stat(artifact)).size / 2 ** 20).toFixed(1)} MiB), ${rounds} rounds, medians`);
console.log(`  sha256sum && tar xzf          ${s(median(results.baseline))}`);
console.log(`  installPython (no validation) ${s(median(results.cpy))}   ratio ${(median(results.cpy) / median(results.baseline)).toFixed(2)} (goal <= 1.0)`);
console.log(`  installPython (validated)     ${s(median(results.validated))}`);
console.log(`  second run (already installed) ${(median(results.second)).toFixed(1)} ms (goal < 100 ms)`);
await reportRows([
  { bench: 'install a local artifact', baseline: 'sha256sum && tar xzf', unit: 's', baselineValue: median(results.baseline) / 1000, value: median(results.cpy) / 1000, goal: 'ratio <= 1.0' },
  { bench: 'second install (idempotent)', baseline: 'the first install', unit: 's', baselineValue: median(results.cpy) / 1000, value: median(results.second) / 1000, goal: 'value < 0.1 s' },
]);
