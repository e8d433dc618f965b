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

export interface SmallDiskOptions {
  /** How many files (and directories) it holds at most: room for the bytes, not for the files (ENOSPC too). */
  readonly inodes?: number;
  /** Mounted read-only (EROFS for any write). */
  readonly readOnly?: boolean;
}

/** tmpfs's mount options for such a disk (`mount -t tmpfs -o ...`): where a test mounts one itself, in a container. */
export function smallDiskMountOptions(bytes: number, options: SmallDiskOptions = {}): string {
  return [`size=${bytes}`, ...(options.inodes ? [`nr_inodes=${options.inodes}`] : []), ...(options.readOnly ? ['ro'] : [])].join(',');
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
export async function mountSmallDisk(bytes: number, at?: string, options: SmallDiskOptions = {}): Promise<SmallDisk> {
  // What this made, and removes again: a new temporary directory, or the part of `at` that was missing.
  const dir = at ?? (await mkdtemp(join(tmpdir(), 'cpy-small-disk-')));
  const made = at ? await mkdir(at, { recursive: true }) : dir;
  const removeMade = () => (made ? rm(made, { recursive: true, force: true }) : Promise.resolve());
  try {
    await run('mount', ['-t', 'tmpfs', '-o', smallDiskMountOptions(bytes, options), 'cpy-small-disk', dir]);
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
