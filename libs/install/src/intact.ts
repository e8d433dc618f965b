import { stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What an installed tree lacks of what CPython needs to start, as a path inside the prefix, or
 * null when nothing: its `bin/python3`, and the landmark its getpath finds the prefix by,
 * `lib/python3.X/os.py` (`lib/python3.Xt/` for a free-threaded build). Two stat calls: the
 * already-installed path stays cheap, and a tree someone damaged is installed again instead of
 * being "already installed" (install.sh's tree_damage says the same).
 */
export async function treeDamage(prefix: string, version: string): Promise<string | null> {
  const isFile = (path: string) =>
    stat(join(prefix, path)).then(
      (s) => s.isFile(),
      () => false,
    );
  if (!(await isFile('bin/python3'))) return 'bin/python3';
  const line = /^(\d+\.\d+)/.exec(version)?.[1];
  if (!line) return null;
  const landmark = `lib/python${line}/os.py`;
  return (await isFile(landmark)) || (await isFile(`lib/python${line}t/os.py`)) ? null : landmark;
}

/** The warning for an install found damaged (treeDamage), which is then installed again. */
export const damagedInstall = (version: string, prefix: string, missing: string): string =>
  `CPython ${version} in ${prefix} is damaged (${missing} is missing): installing it again`;
