import { copyFile, mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { processAlive, randomId } from './ids.js';

/** The temporary name writeFileAtomic writes `path` under first: `<path>.tmp-<uuid>`. */
export const ATOMIC_TMP_INFIX = '.tmp-';

/**
 * Writes `text` to `path` whole or not at all: into a temporary file beside it (`<path>.tmp-<uuid>`),
 * then renamed over it. A process killed meanwhile leaves the old file (or none) and at most that
 * temporary file, never a `path` that holds part of `text`.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  await makeDirectory(dirname(path));
  await replaceWhole(path, (tmp) => writeFile(tmp, text));
}

/**
 * Makes `path`'s new content with `make` under a temporary name beside it, flushes it to the disk,
 * then renames it over `path`; the temporary file never stays. The flush comes first: after a power
 * cut, a rename the disk kept before the data (XFS, ext4 without auto_da_alloc) would leave `path`
 * empty, the old content gone with it; now it is the old content or the new. A file replaced keeps
 * its permissions: the new one was made under the umask (an index served as 0644 became 0600 under
 * a umask of 077, and the web server serving it could no longer read it).
 */
async function replaceWhole(path: string, make: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${path}${ATOMIC_TMP_INFIX}${randomId()}`;
  try {
    await make(tmp);
    const old = await stat(path).catch(() => null);
    const written = await open(tmp, 'r');
    try {
      if (old?.isFile()) await written.chmod(old.mode & 0o777);
      await written.sync();
    } finally {
      await written.close();
    }
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The most a key, a signature or a keys file is read into memory: a real one is a few KiB. */
export const MAX_SMALL_TEXT = 1024 * 1024;

/**
 * A small file's text (a key, a signature), read only when it is no larger than `maxBytes`: a
 * larger one (the artifact given by mistake) is refused unread with an EFBIG error that says so,
 * never loaded whole into memory to fail later as "not a key".
 */
export async function readSmallText(path: string, maxBytes = MAX_SMALL_TEXT): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw Object.assign(new Error(`it is ${size} bytes, larger than the ${maxBytes} such a file may be`), { code: 'EFBIG', path });
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * Copies `from` to `to` whole or not at all, as writeFileAtomic writes: a copy cut off (Ctrl-C, a
 * full disk) never leaves a `to` that holds part of it, nor replaces a good one with it.
 */
export async function copyFileAtomic(from: string, to: string): Promise<void> {
  await replaceWhole(to, (tmp) => copyFile(from, tmp));
}

/**
 * mkdir -p whose error is the true one, made one directory at a time from the deepest one that
 * exists. Node's recursive mkdir says ENOENT on a read-only file system for the directory it could
 * not make, and never returns under /proc (`/proc/x/y` spins: libuv retries the ENOENT it meets
 * there). Here the first directory that cannot be made says why (EROFS, EACCES, ENOENT); a file or
 * a link to nothing where a directory should be is EEXIST, as `mkdir -p` says.
 */
export async function makeDirectory(path: string): Promise<void> {
  const target = resolve(path);
  // Made here, or there already as a directory (or a link to one): what was asked.
  const made = () => mkdir(target).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST' || !(await stat(target).then((s) => s.isDirectory(), () => false))) throw error;
  });
  try {
    await made();
  } catch (error) {
    const parent = dirname(target);
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === target) throw error;
    await makeDirectory(parent);
    await made();
  }
}

/**
 * Removes what processes killed outright (SIGKILL, a power cut) left in `dir`: each entry whose
 * name `left` matches, its first group the pid of the process that made it, once that process is
 * gone. Never this process's; one whose number a live process has now is left alone. Names that
 * say another host (a container sharing the directory, with its own pids) must not match `left`.
 */
export async function removeLeftByDeadProcesses(dir: string, left: RegExp): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(left.exec(name)?.[1] ?? NaN);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || processAlive(pid)) continue;
    await rm(join(dir, name), { recursive: true, force: true });
  }
}
