import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SmallDisk {
  /** A directory on a filesystem of exactly the size asked for. */
  readonly dir: string;
  unmount(): Promise<void>;
}

/** True when this process can mount filesystems (root, as in CI). */
export function canMount(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Mounts a tmpfs of `bytes` bytes: a real full disk (ENOSPC) for tests of
 * what happens when space runs out. At `at` (made if missing), or in a new
 * temporary directory. Needs root.
 */
export async function mountSmallDisk(bytes: number, at?: string): Promise<SmallDisk> {
  // What this made, and removes again: a new temporary directory, or the part of `at` that was missing.
  const dir = at ?? (await mkdtemp(join(tmpdir(), 'cpy-small-disk-')));
  const made = at ? await mkdir(at, { recursive: true }) : dir;
  const removeMade = () => (made ? rm(made, { recursive: true, force: true }) : Promise.resolve());
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'cpy-small-disk', dir]);
  } catch (error) {
    await removeMade();
    throw new Error(`cannot mount a ${bytes}-byte tmpfs at ${dir} (needs root): ${(error as Error).message}`);
  }
  return {
    dir,
    unmount: async () => {
      await run('umount', [dir]);
      await removeMade();
    },
  };
}
