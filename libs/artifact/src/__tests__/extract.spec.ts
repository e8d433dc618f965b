import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/core';
import { extractArtifact, extractArtifactStream } from '../index.js';
import { glibcFloor, readElf } from '../elf.js';
import { tgz, type Entry } from './tgz.js';

let work: string;
/** Every path under `dir`, relative, without following links (the refused trees hold link loops). */
async function walk(dir: string, at = ''): Promise<string[]> {
  const entries = await readdir(join(dir, at), { withFileTypes: true }).catch(() => []);
  const paths: string[] = [];
  for (const e of entries) {
    const path = at ? `${at}/${e.name}` : e.name;
    paths.push(path, ...(e.isDirectory() ? await walk(dir, path) : []));
  }
  return paths;
}

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-extract-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('extractArtifact', () => {
  it('as a stream: one that failed before it was read (a file that could not be opened) is the error, not a wait that never ends', async () => {
    const bytes = new PassThrough();
    bytes.on('error', () => undefined);
    bytes.destroy(Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' }));
    await expect(extractArtifactStream(bytes, 'gone.tgz', { dest: join(work, 'out') })).rejects.toMatchObject({ code: 'CPY_ARTIFACT_CORRUPT', message: expect.stringContaining('ENOENT') });
  });

  it('extracts a well-formed tree, hands back the metadata entry, drops setuid bits', async () => {
    const archive = await tgz(join(work, 'ok.tgz'), [
      { name: 'cpy-artifact.json', body: '{"x":1}' },
      { name: 'opt/', type: 'directory', mode: 0o755 },
      { name: 'opt/python-3.13.5/', type: 'directory', mode: 0o755 },
      { name: 'opt/python-3.13.5/bin/python3.13', body: '#!', mode: 0o4755 },
      { name: 'opt/python-3.13.5/bin/python3', type: 'symlink', linkname: 'python3.13' },
    ]);
    const r = await extractArtifact(archive, { dest: join(work, 'out'), root: 'opt/python-3.13.5' });
    expect(r).toMatchObject({ files: 2, metadata: '{"x":1}' });
    expect(existsSync(join(work, 'out', 'cpy-artifact.json'))).toBe(false);
    expect(execFileSync('stat', ['-c', '%a', join(work, 'out/opt/python-3.13.5/bin/python3.13')]).toString().trim()).toBe('755');
    expect(await readFile(join(work, 'out/opt/python-3.13.5/bin/python3'), 'utf8')).toBe('#!');
  });

  it('gives each file its mode from the archive under any umask (a restrictive one too) or default ACL, never more', async () => {
    const archive = await tgz(join(work, 'modes.tgz'), [
      { name: 'opt/python-3.13.5/bin/python3.13', body: '#!', mode: 0o755 },
      { name: 'opt/python-3.13.5/lib/os.py', body: '', mode: 0o644 },
      { name: 'opt/python-3.13.5/lib/private', body: '', mode: 0o600 },
    ]);
    const modes = (out: string) => ['bin/python3.13', 'lib/os.py', 'lib/private'].map((f) => execFileSync('stat', ['-c', '%a', join(out, 'opt/python-3.13.5', f)]).toString().trim());
    for (const [mask, out] of [[0o022, 'modes-022'], [0o077, 'modes-077'], [0o000, 'modes-000']] as const) {
      const before = process.umask(mask);
      try {
        await extractArtifact(archive, { dest: join(work, out), root: 'opt/python-3.13.5' });
      } finally {
        process.umask(before);
      }
      expect([mask.toString(8), modes(join(work, out))]).toEqual([mask.toString(8), ['755', '644', '600']]);
    }
    // A default ACL where it is unpacked (user rwx, group and mask r-x, other none) strips bits
    // whatever the umask: set as setfacl -d would, by its extended attribute.
    const acl = join(work, 'modes-acl');
    await mkdir(acl);
    const entries = [[0x01, 7], [0x04, 5], [0x10, 5], [0x20, 0]].map(([tag, perm]) => `struct.pack('<HHI', ${tag}, ${perm}, 0xffffffff)`).join(' + ');
    execFileSync('python3', ['-c', `import os, struct; os.setxattr(${JSON.stringify(acl)}, 'system.posix_acl_default', struct.pack('<I', 2) + ${entries})`]);
    await extractArtifact(archive, { dest: acl, root: 'opt/python-3.13.5' });
    expect(modes(acl)).toEqual(['755', '644', '600']);
  });

  it.each<[string, Entry[], RegExp]>([
    ['a .. path', [{ name: 'opt/python-3.13.5/../../etc/passwd', body: 'x' }], /climbs out/],
    ['an absolute path', [{ name: '/etc/cron.d/evil', body: 'x' }], /absolute path/],
    ['a symlink out of the tree', [{ name: 'opt/python-3.13.5/lib', type: 'symlink', linkname: '../../../../etc' }], /points out of the tree/],
    ['an absolute symlink', [{ name: 'opt/python-3.13.5/lib', type: 'symlink', linkname: '/etc' }], /absolute path/],
    // In the destination but not in the tree: installed, it would point beside the prefix.
    ['a symlink out of the tree but not of the destination', [{ name: 'opt/python-3.13.5/lib/x', type: 'symlink', linkname: '../../etc' }], /points out of the tree/],
    [
      'a file written through a symlink',
      [
        { name: 'opt/python-3.13.5/', type: 'directory' },
        { name: 'opt/python-3.13.5/sub', type: 'directory' },
        { name: 'opt/python-3.13.5/sub/up', type: 'symlink', linkname: '..' },
        { name: 'opt/python-3.13.5/sub/up/x', body: 'fine: still inside' },
        { name: 'opt/python-3.13.5/link', type: 'symlink', linkname: 'sub/up' },
        { name: 'opt/python-3.13.5/link/y', body: 'still inside too' },
        { name: 'opt/python-3.13.5/sub/up/e', type: 'symlink', linkname: '../../..' },
        { name: 'opt/python-3.13.5/sub/up/e/evil', body: 'x' },
      ],
      /points out of the tree/,
    ],
    // s/.. is lib/d on paper; followed, s is the tree's root and .. what holds it.
    [
      'a symlink that leaves the tree through another link (inside on paper)',
      [
        { name: 'opt/python-3.13.5/lib/d/s', type: 'symlink', linkname: '../..' },
        { name: 'opt/python-3.13.5/lib/d/l', type: 'symlink', linkname: 's/../../x' },
      ],
      /l' is a symlink whose target goes up after a name \(s\/\.\.\/\.\.\/x\), which artifacts never hold/,
    ],
    // And where the link it goes through comes later in the archive.
    [
      'a symlink that leaves the tree through a link made after it',
      [
        { name: 'opt/python-3.13.5/lib/d/l', type: 'symlink', linkname: 'later/../../x' },
        { name: 'opt/python-3.13.5/lib/d/later', type: 'symlink', linkname: '../..' },
      ],
      /goes up after a name/,
    ],
    ['a hard link', [{ name: 'opt/python-3.13.5/h', type: 'link', linkname: '/etc/shadow' }], /link entry/],
    ['a device', [{ name: 'opt/python-3.13.5/d', type: 'character-device' }], /character-device entry/],
    ['an entry outside the prefix', [{ name: 'usr/bin/python3', body: 'x' }], /outside opt\/python-3.13.5/],
  ])('refuses %s, and writes nothing outside', async (_what, entries, message) => {
    const archive = await tgz(join(work, 'bad.tgz'), entries);
    let error: unknown;
    try {
      await extractArtifact(archive, { dest: join(work, 'out'), root: 'opt/python-3.13.5' });
    } catch (e) {
      error = e;
    }
    expect(isCpyError(error, 'CPY_ARTIFACT_UNSAFE_ENTRY')).toBe(true);
    expect((error as Error).message).toMatch(message);
    expect((await readdir(work)).sort()).toEqual(['bad.tgz', 'out'].filter((n) => n !== 'out' || existsSync(join(work, 'out'))));
    // Nor anything inside the destination outside the tree (out/etc/..., out/usr/bin/python3).
    const written = await walk(join(work, 'out'));
    expect(written.filter((p) => !['opt', 'opt/python-3.13.5'].includes(p) && !p.startsWith('opt/python-3.13.5/'))).toEqual([]);
  });

  // A tmpfs with room for the bytes but for only a few files: a disk that fills while it unpacks.
  (process.getuid?.() === 0 ? it : it.skip)("says a full disk is the disk's error (Node's ENOSPC, naming the file), not a corrupt archive", async () => {
    const archive = await tgz(
      join(work, 'many.tgz'),
      Array.from({ length: 20 }, (_, n) => ({ name: `opt/python-3.13.5/f${n}`, body: 'x' })),
    );
    const disk = join(work, 'disk');
    await mkdir(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,nr_inodes=8', 'cpy-test-inodes', disk]);
    try {
      const error = await extractArtifact(archive, { dest: join(disk, 'out'), root: 'opt/python-3.13.5' }).then(
        () => null,
        (e: unknown) => e as NodeJS.ErrnoException,
      );
      expect(isCpyError(error)).toBe(false);
      expect(error).toMatchObject({ code: 'ENOSPC', path: expect.stringMatching(new RegExp(`^${join(disk, 'out', 'opt')}`)) });
    } finally {
      execFileSync('umount', [disk]);
    }
  });

  it('admits an archive of the metadata entry alone at its end; a write fault there is the disk\'s error, as mid-archive', async () => {
    const only = await tgz(join(work, 'metadata-only.tgz'), [{ name: 'cpy-artifact.json', body: '{}' }]);
    const seen: (string | null)[] = [];
    const r = await extractArtifact(only, { dest: join(work, 'out'), admit: async (text) => (seen.push(text), { root: 'opt/x', maxBytes: 1024 }) });
    expect(seen).toEqual(['{}']);
    expect(r).toMatchObject({ files: 0, metadata: '{}' });
    const denied = Object.assign(new Error('EACCES: permission denied, open /x'), { code: 'EACCES', syscall: 'open', path: '/x' });
    const error = await extractArtifact(only, {
      dest: join(work, 'out2'),
      admit: async () => {
        throw denied;
      },
    }).catch((e: unknown) => e);
    expect(error).toBe(denied);
  });

  it('says a corrupt archive is corrupt', async () => {
    const archive = join(work, 'x.tgz');
    await tgz(archive, [{ name: 'opt/python-3.13.5/a', body: 'a'.repeat(100000) }]);
    const bytes = await readFile(archive);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(archive, bytes.subarray(0, bytes.length / 2));
    await expect(extractArtifact(archive, { dest: join(work, 'out') })).rejects.toMatchObject({ code: 'CPY_ARTIFACT_CORRUPT' });
  });
});

describe('readElf and glibcFloor', () => {
  it('read what objdump reads from a real binary', async () => {
    const bin = process.execPath;
    const elf = await readElf(bin);
    const objdump = execFileSync('objdump', ['-p', bin], { maxBuffer: 1 << 26 }).toString();
    const needed = [...objdump.matchAll(/^\s+NEEDED\s+(\S+)/gm)].map((m) => m[1]);
    expect(elf?.needed).toEqual(needed);
    const versions = [...objdump.matchAll(/GLIBC_(\d+\.\d+)/g)].map((m) => m[1]!);
    const max = versions.sort((a, b) => (a.split('.').map(Number)[1]! - b.split('.').map(Number)[1]!)).at(-1);
    expect(glibcFloor([elf!])).toBe(max);
  });

  it('returns null for files that are not ELF', async () => {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(work, 'script'), '#!/bin/sh\necho hi there, this is long enough to have 64 bytes of header\n');
    expect(await readElf(join(work, 'script'))).toBeNull();
  });
});
