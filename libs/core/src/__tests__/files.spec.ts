import { existsSync, statSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFileAtomic, makeDirectory, writeFileAtomic } from '../files.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-core-files-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('makeDirectory (mkdir -p)', () => {
  it('makes every missing directory, and is done when they exist (several at once too)', async () => {
    const deep = join(work, 'a', 'b', 'c');
    await makeDirectory(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
    await makeDirectory(deep);
    await Promise.all([1, 2, 3, 4].map(() => makeDirectory(join(work, 'same', 'x', 'y'))));
    expect(statSync(join(work, 'same', 'x', 'y')).isDirectory()).toBe(true);
    // Through a link to a directory, as mkdir -p goes.
    await symlink(join(work, 'a'), join(work, 'to-a'));
    await makeDirectory(join(work, 'to-a', 'b', 'd'));
    expect(existsSync(join(work, 'a', 'b', 'd'))).toBe(true);
  });

  it('a file, or a link to nothing, where a directory should be: EEXIST; through a file: ENOTDIR', async () => {
    await writeFile(join(work, 'file'), 'x');
    await symlink(join(work, 'gone'), join(work, 'dangling'));
    await expect(makeDirectory(join(work, 'file'))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(makeDirectory(join(work, 'dangling'))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(makeDirectory(join(work, 'dangling', 'x'))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(makeDirectory(join(work, 'file', 'x'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(existsSync(join(work, 'gone'))).toBe(false);
  });

  it('returns the first directory that cannot be made, and why, where Node\'s recursive mkdir never returns (/proc)', async () => {
    await expect(makeDirectory('/proc/cpy-no-such-dir/a/b')).rejects.toMatchObject({ code: 'ENOENT', path: '/proc/cpy-no-such-dir' });
  });

  (process.getuid?.() === 0 ? it.skip : it)('a directory this user may not write: EACCES naming it', async () => {
    const locked = join(work, 'locked');
    await makeDirectory(locked);
    await chmod(locked, 0o555);
    await expect(makeDirectory(join(locked, 'a', 'b'))).rejects.toMatchObject({ code: 'EACCES', path: join(locked, 'a') });
  });
});

describe('copyFileAtomic', () => {
  it('replaces the target whole, and a copy that fails leaves the target as it was and nothing beside it', async () => {
    const dir = join(work, 'copies');
    await makeDirectory(dir);
    const target = join(dir, 'Python-3.13.5.tar.xz');
    await writeFile(target, 'good');
    await writeFile(join(dir, 'new'), 'newer bytes');
    await copyFileAtomic(join(dir, 'new'), target);
    expect(await readFile(target, 'utf8')).toBe('newer bytes');
    await expect(copyFileAtomic(join(dir, 'missing'), target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readFile(target, 'utf8')).toBe('newer bytes');
    expect((await readdir(dir)).sort()).toEqual(['Python-3.13.5.tar.xz', 'new']);
  });
});

describe('writeFileAtomic', () => {
  it('a file it replaces keeps its permissions whatever the umask (an index served as 0644 became 0600 under umask 077); a new one is made under the umask', async () => {
    const dir = join(work, 'modes');
    await makeDirectory(dir);
    const served = join(dir, 'index.json');
    const secret = join(dir, 'state.json');
    await writeFile(served, '{}');
    await chmod(served, 0o644);
    await writeFile(secret, '{}');
    await chmod(secret, 0o600);
    const umask = process.umask(0o077);
    try {
      await writeFileAtomic(served, '{"a":1}');
      await writeFileAtomic(secret, '{"a":1}');
      await writeFileAtomic(join(dir, 'new.json'), '{}');
    } finally {
      process.umask(umask);
    }
    expect(statSync(served).mode & 0o777).toBe(0o644);
    expect(statSync(secret).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'new.json')).mode & 0o777).toBe(0o600);
    expect(await readFile(served, 'utf8')).toBe('{"a":1}');
  });
});
