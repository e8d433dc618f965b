/**
 * A file system's refusal of a write, in words: Node's errno codes for a disk with no room left
 * and for a place this process may not write. One table for every error that names one (the
 * installers' CPY_INSTALL_DISK_FULL and CPY_INSTALL_NOT_WRITABLE, the CLI's CPY_CLI_CANNOT_WRITE).
 * A module of its own, with no imports (`@cpy/core/faults`): the CLI's dispatch loads it without
 * the rest of the library.
 */
const REASONS = {
  ENOSPC: 'no space left on its disk',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'its file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
} as const;

/**
 * The calls whose EACCES or EPERM refuses a write (open: creating a file, or opening one to write,
 * in an install's own directories). Any other's (spawn, stat, readlink...) is not a write.
 */
const WRITING = new Set(['open', 'mkdir', 'mkdtemp', 'write', 'rename', 'symlink', 'link', 'unlink', 'rmdir', 'chmod', 'fchmod', 'utime', 'futime', 'copyfile', 'fsync', 'ftruncate']);

export interface WriteFault {
  readonly errno: keyof typeof REASONS;
  /** no-room: no space, no inode, a quota; read-only: the file system is mounted so; denied: this user may not write there. */
  readonly kind: 'no-room' | 'read-only' | 'denied';
  /** `cannot write <path>: <reason>`: the path the failed call named, else `where`. */
  readonly message: string;
  /** That path, when there is one. */
  readonly at?: string;
}

/**
 * The write fault `error` is (one of Node's errno errors), or null. Node names the path of most
 * calls (mkdir, open, rename), not of a write: `where` (the directory being written) stands in.
 */
export function writeFault(error: unknown, where?: string): WriteFault | null {
  // By shape, not `instanceof Error`: Node's own errors may come from another realm (a vm context).
  if (typeof error !== 'object' || error === null) return null;
  const { code, path, message, syscall } = error as { code?: unknown; path?: unknown; message?: unknown; syscall?: unknown };
  if (typeof code !== 'string' || !Object.hasOwn(REASONS, code)) return null;
  const errno = code as keyof typeof REASONS;
  const denied = errno === 'EACCES' || errno === 'EPERM';
  if (denied && !(typeof syscall === 'string' && WRITING.has(syscall))) return null;
  const at = typeof path === 'string' ? path : where;
  return {
    errno,
    kind: denied ? 'denied' : errno === 'EROFS' ? 'read-only' : 'no-room',
    message: at ? `cannot write ${at}: ${REASONS[errno]}` : `cannot write: ${REASONS[errno]} (${String(message)})`,
    ...(at ? { at } : {}),
  };
}

/**
 * Node's errno error for a call on a descriptor (a write: a full disk) names no path: given the
 * file's, it names it as one on its path does. Returns the error, to be thrown on.
 */
export function namingPath(error: unknown, path: string): unknown {
  if (typeof error === 'object' && error !== null && (error as { code?: unknown }).code && !(error as { path?: unknown }).path) Object.assign(error, { path });
  return error;
}

/** Python's errno numbers (Linux's) for the refusals it names unambiguously as writes. */
const PYTHON_ERRNOS: Readonly<Record<number, 'ENOSPC' | 'EDQUOT' | 'EROFS'>> = { 28: 'ENOSPC', 122: 'EDQUOT', 30: 'EROFS' };

/**
 * The write fault a python3's own words name (`OSError: [Errno 28] No space left on device`, and
 * the path when it gives one: `: '/x/y'`), or null: a full disk, a used-up quota, a read-only file
 * system. (Its permission errors are not taken: a python3 meets those reading too.) `where` stands
 * in when it names no path.
 */
export function pythonWriteFault(output: string, where?: string): WriteFault | null {
  // Of two paths (os.symlink, os.rename: `'<from>' -> '<to>'`), the second is the one written.
  const said = /\[Errno (\d+)\] [^:'\n]*(?:: '([^'\n]+)'(?: -> '([^'\n]+)')?)?/.exec(output);
  const code = said ? PYTHON_ERRNOS[Number(said[1])] : undefined;
  return code && said ? writeFault({ code, path: said[3] ?? said[2], message: said[0], syscall: 'write' }, where) : null;
}
