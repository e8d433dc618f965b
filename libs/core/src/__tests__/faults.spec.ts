import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { pythonWriteFault, writeFault } from '../faults.js';
import { makeDirectory } from '../files.js';

/** One of Node's errno errors, as fs gives it. */
const errno = (code: string, path?: string) => Object.assign(new Error(`${code}: some words, open '${path ?? ''}'`), { code, syscall: 'open', ...(path ? { path } : {}) });

describe('writeFault', () => {
  it('names a disk with no room (space, inodes, quota) and a place this process may not write, with the path the call named', () => {
    expect(writeFault(errno('ENOSPC', '/srv/a'))).toEqual({ errno: 'ENOSPC', kind: 'no-room', message: 'cannot write /srv/a: no space left on its disk', at: '/srv/a' });
    expect(writeFault(errno('EDQUOT', '/srv/a'))).toEqual({ errno: 'EDQUOT', kind: 'no-room', message: 'cannot write /srv/a: the disk quota is used up', at: '/srv/a' });
    expect(writeFault(errno('EROFS', '/srv/a'))).toEqual({ errno: 'EROFS', kind: 'read-only', message: 'cannot write /srv/a: its file system is read-only', at: '/srv/a' });
    expect(writeFault(errno('EACCES', '/srv/a'))).toMatchObject({ kind: 'denied', message: 'cannot write /srv/a: permission denied' });
    expect(writeFault(errno('EPERM', '/srv/a'))).toMatchObject({ kind: 'denied', message: 'cannot write /srv/a: permission denied' });
  });

  it('takes EACCES and EPERM for a refused write only from a call that writes: not from spawn, stat, readlink', () => {
    expect(writeFault(Object.assign(errno('EACCES', '/srv/a'), { syscall: 'mkdir' }))?.kind).toBe('denied');
    for (const syscall of ['spawn', 'stat', 'lstat', 'readlink', 'scandir', undefined]) {
      expect(writeFault(Object.assign(errno('EACCES', '/srv/a'), { syscall }))).toBeNull();
      expect(writeFault(Object.assign(errno('EPERM', '/srv/a'), { syscall }))).toBeNull();
    }
    // A full or read-only disk refuses only writes: from any call, it is one.
    expect(writeFault(Object.assign(errno('ENOSPC', '/srv/a'), { syscall: undefined }))?.kind).toBe('no-room');
  });

  it('names the directory given where the call named no path (a write), and says so where there is neither', () => {
    expect(writeFault(errno('ENOSPC'), '/srv/stage')?.message).toBe('cannot write /srv/stage: no space left on its disk');
    expect(writeFault(errno('ENOSPC'))?.message).toBe("cannot write: no space left on its disk (ENOSPC: some words, open '')");
  });

  it('is null for anything else: other errno codes, plain errors, non-errors', async () => {
    expect(writeFault(errno('ENOENT', '/srv/a'))).toBeNull();
    expect(writeFault(errno('EIO', '/srv/a'))).toBeNull();
    expect(writeFault(new Error('ENOSPC'))).toBeNull();
    expect(writeFault(null)).toBeNull();
    expect(writeFault('ENOSPC')).toBeNull();
    expect(writeFault(Object.assign(new Error('x'), { code: 'toString' }))).toBeNull();
    // A real one, from the file system.
    const dir = await mkdtemp(join(tmpdir(), 'cpy-faults-'));
    try {
      await writeFile(join(dir, 'file'), '');
      const real = await mkdir(join(dir, 'file', 'sub')).catch((e: unknown) => e);
      expect(writeFault(real)).toBeNull(); // ENOTDIR: not a refusal of the disk
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pythonWriteFault: a python3 that met a full or read-only disk, in its own words', () => {
  it('reads the errno and the path a traceback ends with', () => {
    expect(pythonWriteFault("Traceback (most recent call last):\n  ...\nOSError: [Errno 28] No space left on device: '/d/x.py'", '/d')).toEqual({
      errno: 'ENOSPC',
      kind: 'no-room',
      message: 'cannot write /d/x.py: no space left on its disk',
      at: '/d/x.py',
    });
    expect(pythonWriteFault('f.write(data) OSError: [Errno 28] No space left on device', '/stage')?.message).toBe('cannot write /stage: no space left on its disk');
    expect(pythonWriteFault("OSError: [Errno 122] Disk quota exceeded: '/home/u/x'")).toMatchObject({ errno: 'EDQUOT', kind: 'no-room' });
    expect(pythonWriteFault("OSError: [Errno 30] Read-only file system: '/ro/a'")).toMatchObject({ errno: 'EROFS', kind: 'read-only', message: 'cannot write /ro/a: its file system is read-only' });
    // os.symlink and os.rename name two paths: the second is where it writes.
    expect(pythonWriteFault("OSError: [Errno 30] Read-only file system: '/opt/p/bin/python3' -> '/usr/local/bin/.python3.tmp'")?.message).toBe(
      'cannot write /usr/local/bin/.python3.tmp: its file system is read-only',
    );
  });

  it('takes nothing else: a permission error (reading meets those too), another errno, or no errno', () => {
    expect(pythonWriteFault("PermissionError: [Errno 13] Permission denied: '/x'")).toBeNull();
    expect(pythonWriteFault("FileNotFoundError: [Errno 2] No such file or directory: '/x'")).toBeNull();
    expect(pythonWriteFault('ModuleNotFoundError: No module named _ssl')).toBeNull();
  });
});

describe('makeDirectory', () => {
  // Node's recursive mkdir says ENOENT for a directory it cannot make on a read-only file system.
  (process.getuid?.() === 0 ? it : it.skip)('on a read-only file system fails with EROFS naming the first directory it could not make, not ENOENT', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpy-mkdir-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'cpy-test-ro', dir]);
    try {
      await expect(makeDirectory(join(dir, 'a', 'b'))).rejects.toMatchObject({ code: 'EROFS', path: join(dir, 'a') });
    } finally {
      execFileSync('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('makes what is missing, and leaves what is there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpy-mkdir-'));
    try {
      await makeDirectory(join(dir, 'a', 'b'));
      await makeDirectory(join(dir, 'a', 'b'));
      await writeFile(join(dir, 'a', 'b', 'kept'), 'x');
      await makeDirectory(join(dir, 'a'));
      expect(await readFile(join(dir, 'a', 'b', 'kept'), 'utf8')).toBe('x');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
