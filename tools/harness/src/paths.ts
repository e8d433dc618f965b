import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this file that holds nx.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'nx.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (no nx.json above the harness)');
    dir = up;
  }
  return dir;
}

/**
 * The real CPython release fixtures: `$CPY_FIXTURES_DIR`, or ../shared/fixtures/cpython
 * beside the repository. Throws a clear error when they are not there.
 */
export function fixturesDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env['CPY_FIXTURES_DIR'] ? resolve(env['CPY_FIXTURES_DIR']) : resolve(repoRoot(), '../shared/fixtures/cpython');
  if (!existsSync(join(dir, 'SHA256SUMS'))) {
    throw new Error(
      `CPython fixtures not found at ${dir}. Put the shared folder beside the repository ` +
        `(../shared/fixtures/cpython) or point CPY_FIXTURES_DIR at a folder holding the release files and SHA256SUMS.`,
    );
  }
  return dir;
}

/** The checksums the fixtures README vouches for, by relative file name. */
export async function fixtureChecksums(dir = fixturesDir()): Promise<Map<string, string>> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(join(dir, 'SHA256SUMS'), 'utf8');
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line.trim());
    if (m) out.set(m[2], m[1]);
  }
  return out;
}
