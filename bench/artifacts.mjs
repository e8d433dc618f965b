// Shared by the benchmarks: which artifact to measure when none is named.
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** The newest dist/artifacts/cpython-*.tgz (`npx nx run cli:build-cpython` or `bash scripts/run.sh build` makes one). */
export async function newestArtifact() {
  const dir = resolve('dist/artifacts');
  const names = (await readdir(dir).catch(() => [])).filter((n) => /^cpython-.*\.tgz$/.test(n));
  if (!names.length) throw new Error('no artifact: pass one, or run `npx nx run cli:build-cpython` (or `bash scripts/run.sh build 3.13.5`) first');
  const dated = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(dir, n))).mtimeMs })));
  return join(dir, dated.sort((a, b) => b.t - a.t)[0].n);
}
