import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { CpyError } from '@cpy/core';

/**
 * A location as given (--from, --index...): URLs as they are (any scheme: the library says which
 * it reads, and refuses ftp:// rather than take it for a directory named ftp:), paths made
 * absolute against the working directory.
 */
export function locate(cwd: string, location: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location) || isAbsolute(location) ? location : resolve(cwd, location);
}

/** Refuses a file given to a command (an artifact, a signed file) that is not there, or not a file: CPY_ARTIFACT_NOT_FOUND with `hint`. */
export async function refuseMissingFile(file: string, hint: string): Promise<void> {
  const there = await stat(file).catch(() => null);
  if (!there?.isFile()) throw new CpyError('CPY_ARTIFACT_NOT_FOUND', `${file} ${there ? 'is not a file' : 'does not exist'}`, { hint });
}
