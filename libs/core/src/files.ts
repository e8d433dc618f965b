import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
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
