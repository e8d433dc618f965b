import { withLock as lockFile, type LockOptions, type LockOwner } from '@cpy/core';

export type { LockOptions };

/** The install's locks (a prefix's, the state's): @cpy/core's lock file, which install.sh's lock_take takes too. */
const INSTALL: LockOwner = {
  code: 'CPY_INSTALL_LOCKED',
  holds: 'install',
  whenHeld: (path) => `wait for it to finish; if no cpy is running there, remove ${path}`,
};

/** Runs `work` holding the install lock file `path` (@cpy/core's withLock). */
export function withLock<T>(path: string, options: LockOptions, work: () => Promise<T>): Promise<T> {
  return lockFile(INSTALL, path, options, work);
}
