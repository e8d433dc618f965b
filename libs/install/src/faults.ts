import { dirname } from 'node:path';
import { CpyError } from '@cpy/core';
import { pythonWriteFault, writeFault, type WriteFault } from '@cpy/core/faults';

/**
 * A file system's refusal met while installing (a full disk, a quota, a directory this user may
 * not write, a read-only mount), as the error that names it and says what to do; null for any
 * other error. `where`: the directory being written, named when Node's error names no path.
 */
export function fileSystemFault(error: unknown, where?: string, cacheDir?: string, hints: FaultHints = 'install'): CpyError | null {
  if (error instanceof CpyError) return null;
  const fault = writeFault(error, where);
  // In the artifact cache: --prefix and CPY_HOME do not move it, CPY_CACHE_DIR does.
  const inCache = cacheDir !== undefined && fault?.at !== undefined && (fault.at === cacheDir || fault.at.startsWith(`${cacheDir}/`));
  return named(fault, error, hints, fault && inCache ? CACHE_HINTS[fault.kind](cacheDir) : undefined);
}

/**
 * The same, from what a python3 of the tree said when it failed (relocating, checking or recording
 * the tree): its traceback's `[Errno 28] No space left on device`, in `output`.
 */
export function pythonFileSystemFault(output: string, where: string | undefined, cause: unknown, hints: FaultHints = 'install'): CpyError | null {
  const fault = pythonWriteFault(output, where);
  return named(fault, cause, hints);
}

/**
 * Whose hints a fault gets: an install's (put it elsewhere: --prefix, CPY_HOME), or those of a
 * change to what is installed (use, rollback, uninstall), which have no prefix to choose: the
 * write is where cpy installed, or it is nowhere.
 */
export type FaultHints = 'install' | 'manage';

/** The hints of a fault met by use, rollback or uninstall (FaultHints). */
const MANAGE_HINTS = {
  'no-room': 'free some space there (df -h; df -i), then run again: nothing was changed',
  'read-only': 'that file system is mounted read-only: cpy cannot change what it installed there until it is mounted read-write; nothing was changed',
  denied: 'run as the user who installed it (sudo, for root\'s installs), or keep a cpy layout of your own (CPY_HOME, or --state-dir and --bin-dir): nothing was changed',
} as const;

/**
 * The same, for the record of a tree already in place (state.json, then the links): its python3
 * names no path when a write fails, and then the state directory is named. The hint says where to
 * make room (or what to make writable) and that the next run finishes the record.
 */
export function recordFileSystemFault(output: string, stateDir: string, cause: unknown): CpyError | null {
  const fault = pythonWriteFault(output, stateDir);
  if (!fault) return null;
  const dir = !fault.at || fault.at === stateDir ? stateDir : dirname(fault.at);
  const what = fault.kind === 'no-room' ? `free some space for ${dir} (df -h; df -i)` : `make ${dir} writable`;
  return named(fault, cause, 'install', `the install is in place, not fully recorded: ${what}, then run the same command again to finish recording it`);
}

/** The fault as its error: its hint the one given (`own`), else the one `hints` has for its kind. */
function named(fault: WriteFault | null, cause: unknown, hints: FaultHints, own?: string): CpyError | null {
  if (!fault) return null;
  const options = { hint: own ?? (hints === 'manage' ? MANAGE_HINTS : HINTS)[fault.kind], details: { errno: fault.errno }, cause };
  return fault.kind === 'no-room' ? new CpyError('CPY_INSTALL_DISK_FULL', fault.message, options) : new CpyError('CPY_INSTALL_NOT_WRITABLE', fault.message, options);
}

const CACHE_HINTS = {
  'no-room': (dir: string) => `free some space there (df -h; df -i), or choose a cache directory on another disk (CPY_CACHE_DIR; ${dir} now), then run again`,
  'read-only': (dir: string) => `choose a cache directory on a file system mounted read-write (CPY_CACHE_DIR; ${dir} now)`,
  denied: (dir: string) => `this user may not write the artifact cache ${dir}: make it theirs (sudo chown -R "$(id -un)" ${dir}), or choose another cache directory (CPY_CACHE_DIR)`,
} as const;

const HINTS = {
  'no-room': 'free some space there (df -h; and df -i, which counts files: a CPython tree holds about 2,500), or install on another disk (--prefix, CPY_HOME), then run again',
  'read-only': 'install on a file system mounted read-write (--prefix, CPY_HOME)',
  denied: 'run as root (sudo), or install where this user can write: --prefix, or CPY_HOME (as a normal user, cpy installs under ~/.local/share/cpy by default)',
} as const;
