import { access, constants, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { CpyError, makeDirectory } from '@cpy/core';
import { writeFault } from '@cpy/core/faults';

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

/**
 * Makes a directory a command needs, before its work (before a download): a file where it goes,
 * or a place no directory can be made (under /proc), is said as such (CPY_CLI_CANNOT_WRITE); a
 * refused write (permission, read-only, no room) as the CLI says any.
 */
export async function readyDirectory(dir: string, what: string, flag: string): Promise<void> {
  await makeDirectory(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST' || error.code === 'ENOTDIR') {
      throw new CpyError('CPY_CLI_CANNOT_WRITE', `cannot ${what} ${dir}: a file is where that directory goes`, { hint: `give another directory (${flag}), or move that file away` });
    }
    if (writeFault(error) || !error.code) throw error;
    throw new CpyError('CPY_CLI_CANNOT_WRITE', `cannot ${what} ${dir}: no directory can be made there (${error.code})`, { hint: `give another directory (${flag})`, cause: error });
  });
  // One that is there but cannot be written (another user's, a read-only mount): said now, not
  // after the build (-o was found unwritable when the artifact was packed, the build done).
  await access(dir, constants.W_OK).catch((error: NodeJS.ErrnoException) => {
    const readOnly = error.code === 'EROFS';
    if (!readOnly && error.code !== 'EACCES' && error.code !== 'EPERM') throw error;
    throw new CpyError('CPY_CLI_CANNOT_WRITE', `cannot ${what} ${dir}: ${readOnly ? 'its file system is read-only' : 'this user may not write there'}`, {
      hint: `give another directory (${flag})${readOnly ? '' : ', or run as a user who may write there'}`,
      details: { errno: error.code },
      cause: error,
    });
  });
}
