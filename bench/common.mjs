// Shared by the benchmarks: which artifact to measure, and where results go (bench/run-all.mjs).
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * A benchmark's arguments (node:util parseArgs, positionals allowed). `--help` prints the usage,
 * the script's opening comment, and exits 0; an option it does not take is said in one line,
 * with where the usage is, and exits 2 (parseArgs threw a stack trace).
 */
export function benchArgs(scriptUrl, options = {}) {
  const script = fileURLToPath(scriptUrl);
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    const lines = readFileSync(script, 'utf8').split('\n');
    const usage = [];
    for (const line of lines.slice(lines[0]?.startsWith('#!') ? 1 : 0)) {
      if (!line.startsWith('//')) break;
      usage.push(line.replace(/^\/\/ ?/, ''));
    }
    process.stdout.write(usage.join('\n') + '\n');
    process.exit(0);
  }
  try {
    return parseArgs({ args: argv, options, allowPositionals: true });
  } catch (error) {
    process.stderr.write(`${basename(script)}: ${error.message.split('\n')[0]}\nrun \`node bench/${basename(script)} --help\` for its usage\n`);
    process.exit(2);
  }
}

/** The newest dist/artifacts/cpython-*.tgz (`npx nx run cli:build-cpython` or `bash scripts/run.sh build` makes one). */
export async function newestArtifact() {
  const dir = resolve('dist/artifacts');
  const names = (await readdir(dir).catch(() => [])).filter((n) => /^cpython-.*\.tgz$/.test(n) && !/\.(tests|debug)\.tgz$/.test(n));
  if (!names.length) throw new Error('no artifact: pass one, or run `npx nx run cli:build-cpython` (or `bash scripts/run.sh build 3.13.5`) first');
  const dated = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(dir, n))).mtimeMs })));
  return join(dir, dated.sort((a, b) => b.t - a.t)[0].n);
}

/** A difference in a unit, with its sign: what cpy adds to its baseline (+349) or saves (-114). */
export const signed = (value) => `${value < 0 ? '-' : '+'}${Math.abs(value).toFixed(0)}`;

/** The median: of an even count, the mean of the two middle values (the upper one read high). */
export function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * A benchmark's results, for bench/run-all.mjs: when CPY_BENCH_RESULTS names a file, each
 * row is appended to it as a JSON line. `value` and `baselineValue` are cpy's and the baseline's
 * own figures (medians, where there are runs); `ratio` (cpy / baseline, lower is better), when a
 * row gives it, is the median of the per-pair ratios, which run-all prints as it is; without it,
 * run-all divides the two figures, and says so.
 */
export async function reportRows(rows) {
  const file = process.env.CPY_BENCH_RESULTS;
  if (!file) return;
  const { appendFile } = await import('node:fs/promises');
  await appendFile(file, rows.map((r) => JSON.stringify(r) + '\n').join(''));
}

/**
 * The newest finished build of a profile in the cpy cache (CPY_CACHE_DIR, or
 * $XDG_CACHE_HOME/cpy): its build directory and its build-result.json. `otherwise` is the
 * caller's own way round a missing build, for the error (e.g. "pass a build directory").
 */
export async function newestFinishedBuild(profile, otherwise) {
  const root = join(process.env.CPY_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cpy'), 'builds');
  const found = [];
  for (const dir of (await readdir(root).catch(() => [])).map((name) => join(root, name))) {
    const file = join(dir, 'build-result.json');
    if (!existsSync(file)) continue;
    const result = JSON.parse(await readFile(file, 'utf8'));
    if (result.profile === profile) found.push({ dir, result, t: (await stat(file)).mtimeMs });
  }
  if (!found.length) throw new Error(`no finished ${profile} build in ${root}: run \`npx nx run cli:build-cpython${profile === 'fast' ? '' : ` --profile=${profile}`}\` first, or ${otherwise}`);
  return found.sort((a, b) => b.t - a.t)[0];
}
