#!/usr/bin/env node
// Every benchmark, one command, one table of ratios against baselines measured in the
// same run (ratio = cpy / baseline: lower is better). Run after `npx nx run-many -t build`
// and scripts/setup-containers.sh, with an artifact in dist/artifacts and a finished build
// in the cpy cache (`npx nx run cli:build-cpython` makes both):
//
//   node bench/run-all.mjs                 the cpy bin as users run it (--version, already installed, first install local,
//                                          from the cache and over http, the Feature's install phase), python3 start-up
//                                          through the link, Dev Container (minimal image), artifact sizes  (~9 min)
//   node bench/run-all.mjs --build         + cpy build vs raw configure+make, Nx cache replay          (+ ~15 min)
//   node bench/run-all.mjs --release       + release profile (PGO+LTO) interpreter speed vs fast     (+ about an hour)
//   node bench/run-all.mjs --feature-base both   the Dev Container bench on both base images
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs, signed } from './common.mjs';

const { values } = benchArgs(import.meta.url, { build: { type: 'boolean', default: false }, release: { type: 'boolean', default: false }, 'feature-base': { type: 'string', default: 'minimal' } });
const work = await mkdtemp(join(tmpdir(), 'cpy-bench-all-'));
const results = join(work, 'results.jsonl');
const env = { ...process.env, CPY_BENCH_RESULTS: results };

// bench/cli.mjs first: it times file creation, which is slower for minutes after trees are
// deleted (the other benches delete theirs). bench/install.mjs (installPython in-process, without
// Node's start or the command's loading) is not in the table: cli.mjs times the same installs as
// whole processes of the real bin, which is what users run.
const benches = [
  ['cli', ['bench/cli.mjs']],
  ['startup', ['bench/startup.mjs']],
  ['feature', ['bench/feature.mjs', '--base', values['feature-base']]],
  ['sizes', ['bench/sizes.mjs']],
  ...(values.build ? [['build', ['bench/build-overhead.mjs', '--rounds', '2']], ['nx-replay', ['bench/nx-replay.mjs']]] : []),
  ...(values.release ? [['speed', ['bench/speed.mjs', '--build-release']]] : []),
];
const failed = [];
for (const [name, args] of benches) {
  process.stderr.write(`\n=== ${name}: node ${args.join(' ')}\n`);
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
  process.stderr.write(`=== ${name}: exit ${r.status} in ${((performance.now() - t) / 1000).toFixed(0)} s\n`);
  if (r.status !== 0) failed.push(name);
}

const rows = (await readFile(results, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
await rm(work, { recursive: true, force: true });
// The median of the per-pair differences, where a bench measured it (bench/cli.mjs): what cpy adds
// to the baseline in time, which a ratio hides where the baseline itself moves with the disk.
const excess = (r) => (typeof r.excess === 'number' ? `${signed(r.excess)} ${r.unit}` : '—');
const fmt = (v, unit) => (v === null || v === undefined ? '—' : `${v < 10 ? v.toFixed(3) : v.toFixed(1)} ${unit}`);
// The ratio a bench measured (the median of its per-pair ratios), else cpy's figure over the
// baseline's (marked *): the two columns before it are each side's own median.
const ratio = (r) => (typeof r.ratio === 'number' ? r.ratio.toFixed(4) : r.baselineValue ? `${(r.value / r.baselineValue).toFixed(4)}*` : '—');
const table = [
  ['benchmark', 'baseline', 'baseline', 'cpy', 'ratio', 'cpy - baseline', 'goal'],
  ...rows.map((r) => [r.bench, r.baseline, fmt(r.baselineValue, r.unit), fmt(r.value, r.unit), ratio(r), excess(r), r.goal]),
];
const widths = table[0].map((_, i) => Math.max(...table.map((row) => String(row[i]).length)));
console.log('\n' + table.map((row, i) => row.map((c, j) => String(c).padEnd(widths[j])).join('  ') + (i === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : '')).join('\n'));
console.log('(ratio: the median of the per-pair ratios, A and B alternating; * : cpy\'s figure over the baseline\'s)');
if (!values.build) console.log('(not run: cpy build vs raw, Nx cache replay: --build; release-profile speed: --release)');
if (failed.length) {
  console.log(`failed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
