import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  artifactFileName,
  checksumFileName,
  formatChecksumLine,
  parseArtifactFileName,
  parseChecksumLine,
} from '../index.js';
import { needGroup } from '../needs.js';

describe('artifact naming', () => {
  it('follows cpython-<version>-<os><osversion>-build<N>.tgz', () => {
    expect(artifactFileName({ version: '3.13.5', os: 'debian', osVersion: '12', build: 1 })).toBe(
      'cpython-3.13.5-debian12-build1.tgz',
    );
    expect(
      artifactFileName({ version: '3.14.0rc2', os: 'ubuntu', osVersion: '20.04', build: 3, compression: 'zstd' }),
    ).toBe('cpython-3.14.0rc2-ubuntu20.04-build3.tar.zst');
  });

  it('round-trips through parseArtifactFileName', () => {
    const parts = { version: '3.12.11', os: 'debian', osVersion: '11', arch: 'x86_64', build: 42, compression: 'gzip' as const };
    expect(parseArtifactFileName(artifactFileName(parts))).toEqual(parts);
    const arm = { ...parts, arch: 'aarch64', compression: 'zstd' as const };
    expect(parseArtifactFileName(artifactFileName(arm))).toEqual(arm);
  });

  it('carries the architecture, except x86_64 (every name before multi-arch builds)', () => {
    expect(artifactFileName({ version: '3.13.5', os: 'debian', osVersion: '12', build: 1, arch: 'aarch64' })).toBe('cpython-3.13.5-debian12-aarch64-build1.tgz');
    expect(artifactFileName({ version: '3.13.5', os: 'debian', osVersion: '12', build: 1, arch: 'x86_64' })).toBe('cpython-3.13.5-debian12-build1.tgz');
    expect(parseArtifactFileName('cpython-3.13.5-debian12-build1.tgz')?.arch).toBe('x86_64');
    expect(parseArtifactFileName('cpython-3.13.5-ubuntu24.04-aarch64-build2.tgz')).toMatchObject({ os: 'ubuntu', osVersion: '24.04', arch: 'aarch64', build: 2 });
    // One name per artifact: x86_64 is never spelled out.
    expect(parseArtifactFileName('cpython-3.13.5-debian12-x86_64-build1.tgz')).toBeNull();
    expect(() => artifactFileName({ version: '3.13.5', os: 'debian', osVersion: '12', build: 1, arch: 'arm/64' })).toThrow();
  });

  it('refuses parts that would make an ambiguous or unsafe name', () => {
    expect(() => artifactFileName({ version: '3.13', os: 'debian', osVersion: '12', build: 1 })).toThrow(/3.13.5/);
    expect(() => artifactFileName({ version: '3.13.5', os: 'Debian/..', osVersion: '12', build: 1 })).toThrow();
    expect(() => artifactFileName({ version: '3.13.5', os: 'debian', osVersion: '12', build: 0 })).toThrow();
    expect(parseArtifactFileName('cpython-3.13.5-debian12-build1.zip')).toBeNull();
    expect(parseArtifactFileName('../cpython-3.13.5-debian12-build1.tgz')).toBeNull();
  });
});

describe('checksum files', () => {
  it('writes a line that `sha256sum -c` accepts, and reads it back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpy-naming-'));
    try {
      const name = artifactFileName({ version: '3.13.5', os: 'debian', osVersion: '12', build: 1 });
      const body = Buffer.from('not really a tarball, but bytes all the same');
      writeFileSync(join(dir, name), body);
      const digest = createHash('sha256').update(body).digest('hex');
      const line = formatChecksumLine(digest, name);
      writeFileSync(join(dir, checksumFileName(name)), line);

      const out = execFileSync('sha256sum', ['-c', checksumFileName(name)], { cwd: dir, encoding: 'utf8' });
      expect(out.trim()).toBe(`${name}: OK`);
      expect(parseChecksumLine(line)).toEqual({ sha256: digest, fileName: name });

      writeFileSync(join(dir, name), Buffer.concat([body, Buffer.from('!')]));
      expect(() => execFileSync('sha256sum', ['-c', checksumFileName(name)], { cwd: dir, stdio: 'pipe' })).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts binary-mode and bare-digest lines, rejects anything else', () => {
    const d = 'a'.repeat(64);
    expect(parseChecksumLine(`${d} *file.tgz\n`)).toEqual({ sha256: d, fileName: 'file.tgz' });
    expect(parseChecksumLine(`${d.toUpperCase()}\n`)).toEqual({ sha256: d, fileName: null });
    expect(parseChecksumLine('<html>404 Not Found</html>')).toBeNull();
    expect(() => formatChecksumLine('xyz', 'f')).toThrow(/sha256/);
  });
});

describe('runtime needs', () => {
  it('groups a system library by the modules that need it: critical, optional (curses, dbm), tk', () => {
    const so = (m: string) => `lib/python3.13/lib-dynload/${m}.cpython-313-x86_64-linux-gnu.so`;
    expect(needGroup([so('_ssl')])).toBe('critical');
    expect(needGroup([so('_curses'), so('_curses_panel')])).toBe('optional');
    expect(needGroup([so('_tkinter')])).toBe('tk');
    expect(needGroup([so('_tkinter'), so('_curses')])).toBe('optional');
    expect(needGroup(['bin/python3.13'])).toBe('critical');
    expect(needGroup([])).toBe('critical');
  });
});
