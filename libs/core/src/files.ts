import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { randomId } from './ids.js';

/** The temporary name writeFileAtomic writes `path` under first: `<path>.tmp-<uuid>`. */
export const ATOMIC_TMP_INFIX = '.tmp-';

/**
 * Writes `text` to `path` whole or not at all: into a temporary file beside it (`<path>.tmp-<uuid>`),
 * then renamed over it. A process killed meanwhile leaves the old file (or none) and at most that
 * temporary file, never a `path` that holds part of `text`.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}${ATOMIC_TMP_INFIX}${randomId()}`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * mkdir -p whose error is the true one: on a read-only file system Node's recursive mkdir says
 * ENOENT (no such file or directory) for the directory it could not make. Made again one
 * component at a time, the first one that cannot be made says why (EROFS, EACCES...).
 */
export async function makeDirectory(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    let at = '/';
    for (const part of resolve(path).split('/').filter(Boolean)) {
      at = join(at, part);
      await mkdir(at).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    }
  }
}
