import { CpyError } from '@cpy/core';
import { pythonWriteFault, writeFault, type WriteFault } from '@cpy/core/faults';

/**
 * A file system's refusal met while installing (a full disk, a quota, a directory this user may
 * not write, a read-only mount), as the error that names it and says what to do; null for any
 * other error. `where`: the directory being written, named when Node's error names no path.
 */
export function fileSystemFault(error: unknown, where?: string): CpyError | null {
  if (error instanceof CpyError) return null;
  return named(writeFault(error, where), error);
}

/**
 * The same, from what a python3 of the tree said when it failed (relocating, checking or recording
 * the tree): its traceback's `[Errno 28] No space left on device`, in `output`.
 */
export function pythonFileSystemFault(output: string, where: string | undefined, cause: unknown): CpyError | null {
  return named(pythonWriteFault(output, where), cause);
}

function named(fault: WriteFault | null, cause: unknown): CpyError | null {
  if (!fault) return null;
  const options = { hint: HINTS[fault.kind], details: { errno: fault.errno }, cause };
  return fault.kind === 'no-room' ? new CpyError('CPY_INSTALL_DISK_FULL', fault.message, options) : new CpyError('CPY_INSTALL_NOT_WRITABLE', fault.message, options);
}

const HINTS = {
  'no-room': 'free some space there (df -h; and df -i, which counts files: a CPython tree holds about 2,500), or install on another disk (--prefix, CPY_HOME), then run again',
  'read-only': 'install on a file system mounted read-write (--prefix, CPY_HOME)',
  denied: 'run as root (sudo), or install where this user can write: --prefix, or CPY_HOME (as a normal user, cpy installs under ~/.local/share/cpy by default)',
} as const;
