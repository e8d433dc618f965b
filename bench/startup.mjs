#!/usr/bin/env node
// python3 start-up through the link users type against starting it from its prefix.
//
//   node bench/startup.mjs [artifact] [--rounds N]
//
// Installs the artifact with the real `cpy` bin (a whole process, as users run it) into a
// temporary CPY_HOME, at a prefix that is not the build prefix (relocated), with its links in
// <home>/bin. Then times, as whole processes, A and B alternating in every round:
//   A  <home>/bin/python3 -c pass      (the link: what users type)
//   B  <prefix>/bin/python3 -c pass    (the prefix itself)
// and the same with `-c 'import json, ssl, sqlite3'`. The link costs the path resolution the
// kernel does anyway, plus cpy's .pth line (a few stat calls) that resolves sys.executable.
// Goal: the ratio link / prefix within 1.02. Prints a table; rows go to bench/run-all.mjs.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { benchArgs, median, newestArtifact, reportRows } from './common.mjs';

const { values, positionals } = benchArgs(import.meta.url, { rounds: { type: 'string', default: '200' } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 10) throw new Error('--rounds takes a whole number of 10 or more');
const artifact = resolve(positionals[0] ?? (await newestArtifact()));
const work = await mkdtemp(join(tmpdir(), 'cpy-bench-startup-'));
const home = join(work, 'home');

try {
  const out = execFileSync(process.execPath, ['apps/cli/bin/cpy.cjs', 'install', '--from', artifact, '--json'], {
    env: { ...process.env, CPY_HOME: home, CPY_CACHE_DIR: join(work, 'cache') },
    encoding: 'utf8',
  });
  const { install } = JSON.parse(out);
  const link = join(home, 'bin', 'python3');
  const direct = join(install.prefix, 'bin', 'python3');
  const env = { PATH: '/usr/bin:/bin', LC_ALL: 'C.UTF-8' };
  const time = (file, args) => {
    const t = process.hrtime.bigint();
    const r = spawnSync(file, args, { env, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}`);
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const rows = [];
  for (const [what, args] of [
    ['-c pass', ['-c', 'pass']],
    ["-c 'import json, ssl, sqlite3'", ['-c', 'import json, ssl, sqlite3']],
  ]) {
    // Warm-up, not counted.
    for (let i = 0; i < 10; i++) {
      time(link, args);
      time(direct, args);
    }
    const a = [];
    const b = [];
    const ratios = [];
    for (let i = 0; i < rounds; i++) {
      // Alternate which goes first, so drift and caches favour neither.
      const [x, y] = i % 2 ? [time(link, args), time(direct, args)] : [time(direct, args), time(link, args)].reverse();
      a.push(x);
      b.push(y);
      ratios.push(x / y);
    }
    const row = { what, link: median(a), prefix: median(b), ratio: median(ratios) };
    rows.push(row);
    console.log(`python3 ${what}: link ${row.link.toFixed(2)} ms, prefix ${row.prefix.toFixed(2)} ms, ratio (median of ${rounds} pairs) ${row.ratio.toFixed(4)}`);
  }
  await reportRows(
    rows.map((r) => ({
      bench: `python3 ${r.what} through the link`,
      baseline: 'the same from the prefix',
      unit: 'ms',
      baselineValue: r.prefix,
      value: r.link,
      ratio: r.ratio,
      goal: 'ratio <= 1.02',
    })),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
