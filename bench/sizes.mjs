#!/usr/bin/env node
// How big is an artifact against the tree it packs? The newest finished fast-profile build
// in the cpy cache (the default profile; or the build directory given) packed as gzip and as zstd (stripped,
// without the test suite: the defaults), against the unstripped installed tree.
//
//   node bench/sizes.mjs [build-dir]
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { reportRows } from './common.mjs';

const run = promisify(execFile);
const cli = resolve('apps/cli/bin/cpy.js');

async function newestBuild() {
  const root = join(process.env.CPY_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cpy'), 'builds');
  const dirs = [];
  for (const d of (await readdir(root).catch(() => [])).map((name) => join(root, name))) {
    const file = join(d, 'build-result.json');
    if (existsSync(file) && JSON.parse(await readFile(file, 'utf8')).profile === 'fast') dirs.push(d);
  }
  if (!dirs.length) throw new Error(`no finished fast-profile build in ${root}: run \`npx nx run cli:build-cpython\` first, or pass a build directory`);
  const dated = await Promise.all(dirs.map(async (d) => ({ d, t: (await stat(join(d, 'build-result.json'))).mtimeMs })));
  return dated.sort((a, b) => b.t - a.t)[0].d;
}

const buildDir = resolve(process.argv[2] ?? (await newestBuild()));
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
