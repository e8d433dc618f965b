#!/usr/bin/env node
// How big is an artifact against the tree it packs? The newest finished fast-profile build
// in the cpy cache (the default profile; or the build directory given) packed as gzip and
// as zstd (stripped, without the test suite: the defaults), against the unstripped tree.
//
//   node bench/sizes.mjs [build-dir]
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { benchArgs, newestFinishedBuild, reportRows } from './common.mjs';

const run = promisify(execFile);
const cli = resolve('apps/cli/bin/cpy.cjs');

const buildDir = resolve(benchArgs(import.meta.url).positionals[0] ?? (await newestFinishedBuild('fast', 'pass a build directory')).dir);
const staging = join(buildDir, 'staging');
console.log(`build: ${buildDir}`);
const tree = Number((await run('du', ['-sb', staging])).stdout.split('\t')[0]);
const work = await mkdtemp(join(tmpdir(), 'cpy-bench-sizes-'));
const rows = [];
try {
  for (const compression of ['gzip', 'zstd']) {
    const out = join(work, compression);
    const { stdout } = await run(process.execPath, [cli, 'artifact', 'pack', buildDir, '--compression', compression, '--no-validate', '-o', out, '--json'], { maxBuffer: 64 * 1024 * 1024 });
    const packed = JSON.parse(stdout);
    const path = packed.artifact?.path ?? join(out, (await readdir(out)).find((n) => /\.(tgz|tar\.zst)$/.test(n)));
    const bytes = (await stat(path)).size;
    rows.push({ bench: `artifact size, ${compression}`, baseline: 'the unstripped installed tree', unit: 'MiB', baselineValue: tree / 2 ** 20, value: bytes / 2 ** 20, goal: 'smaller' });
    console.log(`${compression.padEnd(5)} ${(bytes / 2 ** 20).toFixed(1)} MiB  (tree ${(tree / 2 ** 20).toFixed(1)} MiB, ratio ${(bytes / tree).toFixed(3)})`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
await reportRows(rows);
