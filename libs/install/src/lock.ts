import { dirname } from 'node:path';
import { isCpyError, withLock as lockFile, type LockOptions, type LockOwner } from '@cpy/core';
import { fileSystemFault, type FaultHints } from './faults.js';

export type { LockOptions };

/** The install's locks (a prefix's, the state's): @cpy/core's lock file, which install.sh's lock_take takes too. */
const INSTALL: LockOwner = {
  code: 'CPY_INSTALL_LOCKED',
  stopped: 'CPY_INSTALL_CANCELLED',
  holds: 'install',
  whenHeld: (path) => `wait for it to finish; if no cpy is running there, remove ${path}`,
};

/**
 * Runs `work` holding the install lock file `path` (@cpy/core's withLock). A lock that cannot be
 * made because its directory may not be written (a normal user and root's state), is read-only or
 * full is that (CPY_INSTALL_NOT_WRITABLE, CPY_INSTALL_DISK_FULL), not a lock someone holds.
 */
export async function withLock<T>(path: string, options: LockOptions, work: () => Promise<T>, hints: FaultHints = 'install'): Promise<T> {
  let working = false;
  try {
    return await lockFile(INSTALL, path, options, () => {
      working = true;
      return work();
    });
  } catch (error) {
    if (!working && isCpyError(error, 'CPY_INSTALL_LOCKED') && error.cause) {
      // Named by the directory that could not be made, or the lock's directory: not the temporary file the take wrote first.
      const { code, syscall, message, path: at } = error.cause as NodeJS.ErrnoException;
      // (use, rollback and uninstall have no --prefix to take elsewhere: `hints`.)
      throw fileSystemFault({ code, syscall, message, ...(syscall === 'mkdir' && at ? { path: at } : {}) }, dirname(path), undefined, hints) ?? error;
    }
    throw error;
  }
}
