// How an index edit leaves its files when the disk refuses part of it, and what it keeps of them.
// The table's rename after the index's is made to fail here (node:fs/promises, wrapped): a real
// cause (ARTIFACTS.md a mount point, or another user's in a sticky directory) is not made in a test.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import * as real from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

let refuseTable = false;
jest.unstable_mockModule('node:fs/promises', () => ({
  ...real,
  rename: async (from: string, to: string) => {
    if (refuseTable && basename(to) === 'ARTIFACTS.md') throw Object.assign(new Error(`EACCES: permission denied, rename '${from}' -> '${to}'`), { code: 'EACCES', path: from, dest: to });
    return real.rename(from, to);
  },
}));
const { addEntry, emptyIndex, readIndexFile, replaceIndexFile, writeIndexFile } = await import('../index.js');
type IndexEntry = Parameters<typeof addEntry>[1];

const entry = (version: string): IndexEntry => ({
  version,
  build: 1,
  os: 'debian',
  osVersion: '12',
  arch: 'x86_64',
  libc: 'glibc',
  glibcFloor: '2.34',
  file: `cpython-${version}-debian12-build1.tgz`,
  url: `https://example.test/cpython-${version}-build1/cpython-${version}-debian12-build1.tgz`,
  sha256: 'a'.repeat(64),
  size: 19_000_000,
  needs: [],
  state: 'active',
  publishedAt: '2026-11-30T12:00:00.000Z',
});

let dir: string;
beforeAll(async () => void (dir = await real.mkdtemp(join(tmpdir(), 'cpy-index-faults-'))));
afterAll(() => real.rm(dir, { recursive: true, force: true }));

describe('an index edit', () => {
  it('whose table cannot be replaced once the index was: says so with a code, and removes the signature of the old bytes (it was put back beside the new ones)', async () => {
    const site = join(dir, 'signed');
    const path = join(site, 'index.json');
    await writeIndexFile(path, addEntry(emptyIndex(), entry('3.13.5')));
    await real.writeFile(`${path}.asc`, 'the signature of those bytes');
    refuseTable = true;
    try {
      await expect(replaceIndexFile(path, addEntry(emptyIndex(), entry('3.13.6')))).rejects.toMatchObject({
        code: 'CPY_INDEX_TABLE_NOT_WRITTEN',
        message: `${path} was updated (${path}.asc, which signed it as it was, removed), but its table ${join(site, 'ARTIFACTS.md')} could not be replaced: EACCES`,
      });
    } finally {
      refuseTable = false;
    }
    expect((await readIndexFile(path)).artifacts.map((a) => a.version)).toEqual(['3.13.6']);
    expect((await real.readdir(site)).sort()).toEqual(['ARTIFACTS.md', 'index.json']);
    expect(await real.readFile(join(site, 'ARTIFACTS.md'), 'utf8')).toContain('3.13.5');
    // The same command again writes both.
    await replaceIndexFile(path, addEntry(emptyIndex(), entry('3.13.6')));
    expect(await real.readFile(join(site, 'ARTIFACTS.md'), 'utf8')).toContain('3.13.6');
  });

  it('a signature a killed edit left aside (Ctrl-C between its moves) is judged by the next one: said removed when its bytes were still the index\'s, else deleted', async () => {
    const site = join(dir, 'killed');
    const path = join(site, 'index.json');
    await writeIndexFile(path, addEntry(emptyIndex(), entry('3.13.5')));
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(await real.readFile(path)).digest('hex');
    // Left by a run killed after moving the signature aside, before writing: the index unchanged, unsigned.
    await real.writeFile(`${path}.asc.cpy-old-${sha}`, 'the signature of those bytes');
    // And one of bytes the index no longer has.
    await real.writeFile(`${path}.asc.cpy-old-${'b'.repeat(64)}`, 'a signature of other bytes');
    // The next edit finds the index was signed, and says it removed that signature (sign again).
    expect(await replaceIndexFile(path, addEntry(emptyIndex(), entry('3.13.6')))).toEqual({ signatureRemoved: `${path}.asc` });
    expect((await real.readdir(site)).sort()).toEqual(['ARTIFACTS.md', 'index.json']);
    // A signature with no index beside it (a register's): removed as it was, the new index written.
    const bare = join(dir, 'bare');
    await real.mkdir(bare);
    await real.writeFile(join(bare, 'index.json.asc'), 'a signature of nothing here');
    expect(await replaceIndexFile(join(bare, 'index.json'), addEntry(emptyIndex(), entry('3.13.5')))).toEqual({ signatureRemoved: join(bare, 'index.json.asc') });
    expect((await real.readdir(bare)).sort()).toEqual(['ARTIFACTS.md', 'index.json']);
  });

  it('keeps the files\' permissions under any umask (served as 0644, they became 0600 under 077), and writes an index that is a link through it', async () => {
    const served = join(dir, 'served');
    const site = join(dir, 'site');
    await real.mkdir(served);
    await real.mkdir(site);
    await writeIndexFile(join(served, 'index.json'), addEntry(emptyIndex(), entry('3.13.5')));
    for (const file of ['index.json', 'ARTIFACTS.md']) await real.chmod(join(served, file), 0o644);
    // site/index.json is a link to the file the web server serves.
    await real.symlink(join(served, 'index.json'), join(site, 'index.json'));
    const umask = process.umask(0o077);
    try {
      await replaceIndexFile(join(served, 'index.json'), addEntry(emptyIndex(), entry('3.13.6')));
      await replaceIndexFile(join(site, 'index.json'), addEntry(emptyIndex(), entry('3.13.7')));
    } finally {
      process.umask(umask);
    }
    for (const file of ['index.json', 'ARTIFACTS.md']) expect((await real.stat(join(served, file))).mode & 0o777).toBe(0o644);
    expect((await real.lstat(join(site, 'index.json'))).isSymbolicLink()).toBe(true);
    expect((await readIndexFile(join(served, 'index.json'))).artifacts.map((a) => a.version)).toEqual(['3.13.7']);
  });
});
