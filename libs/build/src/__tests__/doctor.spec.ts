import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { checkBuildHost } from '../index.js';
import { ALL_HEADERS, DEBIAN, FEDORA, GENTOO, TOOLS, fakeBuilder } from './fake-builder.js';

const plenty = async () => 50 * 1024 ** 3;

describe('checkBuildHost', () => {
  it('reports a complete builder as ok with nothing to install', async () => {
    const report = await checkBuildHost({
      exec: fakeBuilder({ osRelease: DEBIAN, programs: TOOLS, headers: ALL_HEADERS, pkgConfig: ['tk'] }),
      freeBytes: plenty,
    });
    expect(report.ok).toBe(true);
    expect(report.missing).toEqual({ critical: [], optional: [] });
    expect(report.fix).toBeNull();
    expect(report.os).toMatchObject({ id: 'debian', versionId: '12', family: 'debian' });
  });

  it('names the missing module and the exact Debian packages that provide it', async () => {
    const report = await checkBuildHost({
      exec: fakeBuilder({
        osRelease: DEBIAN,
        programs: TOOLS,
        headers: ALL_HEADERS.filter((h) => h !== 'openssl/ssl.h' && h !== 'gdbm.h'),
      }),
      freeBytes: plenty,
    });
    expect(report.ok).toBe(false);
    expect(report.missing).toEqual({ critical: ['ssl'], optional: ['dbm', 'tkinter'] });
    const ssl = report.checks.find((c) => c.id === 'ssl');
    expect(ssl).toMatchObject({ ok: false, packages: ['libssl-dev'] });
    expect(ssl?.detail).toMatch(/openssl\/ssl.h: No such file/);
    expect(report.fix?.command).toBe('apt-get install -y libssl-dev libgdbm-dev libgdbm-compat-dev tk-dev');
  });

  it('a system without a VERSION_ID (Debian testing, Gentoo) cannot build: cpy build refuses it, and doctor said it could', async () => {
    const testing = await checkBuildHost({ exec: fakeBuilder({ osRelease: DEBIAN.replace(/^VERSION_ID=.*$/m, ''), programs: TOOLS, headers: ALL_HEADERS, pkgConfig: ['tk'] }), freeBytes: plenty });
    expect(testing.ok).toBe(false);
    expect(testing.missing.critical).toEqual(['os']);
    expect(testing.checks.find((c) => c.id === 'os')).toMatchObject({ ok: false, detail: expect.stringMatching(/ has no VERSION_ID in \/etc\/os-release, which names the artifact/), hint: expect.stringMatching(/^build on \(or in a container of\) a released distribution/) });
    expect(testing.fix).toBeNull();
    const debian = await checkBuildHost({ exec: fakeBuilder({ osRelease: DEBIAN, programs: TOOLS, headers: ALL_HEADERS, pkgConfig: ['tk'] }), freeBytes: plenty });
    expect(debian.checks.find((c) => c.id === 'os')).toMatchObject({ ok: true, detail: expect.stringMatching(/: its artifacts are named debian12$/) });
  });

  it('missing optional modules alone do not fail the check', async () => {
    const report = await checkBuildHost({
      exec: fakeBuilder({ osRelease: DEBIAN, programs: TOOLS, headers: ALL_HEADERS.filter((h) => h !== 'ncurses.h') }),
      freeBytes: plenty,
    });
    expect(report.ok).toBe(true);
    expect(report.missing.optional).toEqual(['curses', 'tkinter']);
  });

  it('probes with the compiler as configure runs it: a CC of several words (ccache gcc), and CPPFLAGS/CFLAGS for the headers', async () => {
    const ran: string[][] = [];
    const base = fakeBuilder({ osRelease: DEBIAN, programs: [...TOOLS, 'ccache'], headers: ALL_HEADERS });
    // ccache runs gcc; the headers are there only with the -I the flags give.
    const exec: typeof base = async (file, args, options) => {
      ran.push([file, ...args]);
      if (file !== 'ccache') return base(file, args, options);
      if (args[1] === '--version') return { exitCode: 0, stdout: 'gcc 12.2.0\n', stderr: '' };
      return args.includes('-I/usr/include/openssl11') ? base('cc', args.slice(args.indexOf('-E')), options) : { exitCode: 1, stdout: '', stderr: '<stdin>:1:10: fatal error: openssl/ssl.h: No such file or directory\n' };
    };
    const report = await checkBuildHost({ exec, freeBytes: plenty, cc: 'ccache gcc', cppflags: '-I/usr/include/openssl11 -O2' });
    expect(report.ok).toBe(true);
    expect(ran).toContainEqual(['ccache', 'gcc', '--version']);
    expect(ran).toContainEqual(['ccache', 'gcc', '-I/usr/include/openssl11', '-O2', '-E', '-x', 'c', '-o', '/dev/null', '-']);
  });

  it('without a compiler, says so for every header instead of blaming the headers', async () => {
    const report = await checkBuildHost({
      exec: fakeBuilder({ osRelease: DEBIAN, programs: ['make', 'xz'], headers: [] }),
      freeBytes: plenty,
    });
    expect(report.missing.critical).toEqual(
      expect.arrayContaining(['cc', 'pkg-config', 'ssl', 'zlib', 'readline']),
    );
    expect(report.checks.find((c) => c.id === 'zlib')?.detail).toMatch(/without a C compiler/);
    // What could not be checked stays in the fix: one apt-get line makes a bare machine complete.
    expect(report.fix?.packages).toEqual(expect.arrayContaining(['gcc', 'libc6-dev', 'pkg-config', 'zlib1g-dev']));
  });

  it('a compiler named by a path that is not there (--cc, $CC): said as such, and installing gcc is not offered for it', async () => {
    const report = await checkBuildHost({ exec: fakeBuilder({ osRelease: DEBIAN, programs: TOOLS, headers: ALL_HEADERS, pkgConfig: ['tk'] }), freeBytes: plenty, cc: '/opt/cross/bin/cc' });
    expect(report.checks.find((c) => c.id === 'cc')).toMatchObject({
      ok: false,
      detail: 'cannot run /opt/cross/bin/cc: no such program, or its interpreter or loader is missing',
      packages: [],
      hint: 'name a C compiler that runs here (--cc or $CC), or set neither to use cc',
    });
    expect(report.fix?.packages ?? []).not.toContain('gcc');
    // The headers could not be checked without it: not offered either (every -dev package of the build was).
    expect(report.checks.find((c) => c.id === 'ssl')).toMatchObject({ ok: false, detail: 'cannot check without a C compiler (/opt/cross/bin/cc not found)', packages: [], hint: 'name a C compiler that runs here (--cc or $CC), or set neither to use cc' });
    expect(report.fix).toBeNull();
    // By name, it is a package's to give: gcc stays in the fix.
    const byName = await checkBuildHost({ exec: fakeBuilder({ osRelease: DEBIAN, programs: TOOLS.filter((t) => t !== 'cc'), headers: ALL_HEADERS, pkgConfig: ['tk'] }), freeBytes: plenty });
    expect(byName.checks.find((c) => c.id === 'cc')).toMatchObject({ ok: false, packages: ['gcc', 'libc6-dev'] });
    expect(byName.checks.find((c) => c.id === 'cc')?.hint).toBeUndefined();
  });

  it('uses the package names of the system family, and library names where it has none', async () => {
    const fedora = await checkBuildHost({
      exec: fakeBuilder({ osRelease: FEDORA, programs: TOOLS, headers: ALL_HEADERS.filter((h) => h !== 'ffi.h') }),
      freeBytes: plenty,
    });
    expect(fedora.fix?.command).toBe('dnf install -y libffi-devel tk-devel');

    const gentoo = await checkBuildHost({
      exec: fakeBuilder({ osRelease: GENTOO, programs: TOOLS, headers: ALL_HEADERS.filter((h) => h !== 'ffi.h') }),
      freeBytes: plenty,
    });
    expect(gentoo.fix).toBeNull();
    expect(gentoo.checks.find((c) => c.id === 'ctypes')?.what).toMatch(/libffi.*ffi\.h/);
  });

  it('fails on too little free disk and says how much is needed', async () => {
    const report = await checkBuildHost({
      exec: fakeBuilder({ osRelease: DEBIAN, programs: TOOLS, headers: ALL_HEADERS, pkgConfig: ['tk'] }),
      buildDir: '/srv/build',
      freeBytes: async () => 1024 ** 3,
    });
    expect(report.ok).toBe(false);
    expect(report.missing.critical).toEqual(['disk']);
    expect(report.checks.find((c) => c.id === 'disk')).toMatchObject({
      detail: '1.0 GiB free at /srv/build (3.0 GiB needed)',
      hint: 'free 2.0 GiB there, or build where there is room (cpy build --work-dir <dir>; check it with cpy doctor --dir <dir>)',
    });
  });

  it('says how much to free rounded up: some MiB short is never "free 0.0 GiB"', async () => {
    const report = await checkBuildHost({ exec: fakeBuilder({ osRelease: DEBIAN, programs: TOOLS, headers: ALL_HEADERS, pkgConfig: ['tk'] }), freeBytes: async () => 3 * 1024 ** 3 - 40 * 1024 ** 2 });
    expect(report.checks.find((c) => c.id === 'disk')?.hint).toMatch(/^free 0\.1 GiB there/);
  });

  it('checks the build directory where it will be made (its nearest existing parent), as cpy build makes it', async () => {
    const report = await checkBuildHost({ exec: fakeBuilder({ osRelease: DEBIAN, programs: TOOLS, headers: ALL_HEADERS, pkgConfig: ['tk'] }), buildDir: join(tmpdir(), 'cpy-doctor-not-made', 'builds') });
    expect(report.checks.find((c) => c.id === 'disk')).toMatchObject({ ok: true, detail: expect.stringMatching(/ GiB free at .*cpy-doctor-not-made\/builds \(3\.0 GiB needed\)$/) });
    expect(existsSync(join(tmpdir(), 'cpy-doctor-not-made'))).toBe(false);
  });

  it('a build directory that is a file, or under one: not a place to build (it said there was room)', async () => {
    const file = join(tmpdir(), `cpy-doctor-file-${process.pid}`);
    await writeFile(file, 'notes\n');
    try {
      // Not "free some space there": what to do follows what is wrong.
      for (const [dir, hint] of [
        [file, 'name a directory, not a file (cpy build --work-dir <dir>; check it with cpy doctor --dir <dir>)'],
        [join(file, 'builds'), `move ${file} aside, or build in another directory (cpy build --work-dir <dir>; check it with cpy doctor --dir <dir>)`],
      ] as const) {
        const report = await checkBuildHost({ exec: fakeBuilder({ osRelease: DEBIAN, programs: TOOLS, headers: ALL_HEADERS, pkgConfig: ['tk'] }), buildDir: dir });
        expect(report.checks.find((c) => c.id === 'disk')).toMatchObject({ ok: false, detail: `cannot build in ${dir}: ${file} is a file, not a directory`, hint });
        expect(report.ok).toBe(false);
      }
    } finally {
      await rm(file, { force: true });
    }
  });

  it('on this host, agrees with the header files actually installed', async () => {
    const report = await checkBuildHost({ minFreeBytes: 1 });
    const installed = (rel: string) =>
      ['/usr/include', '/usr/include/x86_64-linux-gnu', '/usr/include/aarch64-linux-gnu'].some((d) =>
        existsSync(`${d}/${rel}`),
      );
    const byId = new Map(report.checks.map((c) => [c.id, c.ok]));
    expect(byId.get('cc')).toBe(true); // the machine's own gcc
    expect(byId.get('disk')).toBe(true);
    expect(byId.get('zlib')).toBe(installed('zlib.h'));
    expect(byId.get('sqlite3')).toBe(installed('sqlite3.h'));
    expect(byId.get('bz2')).toBe(installed('bzlib.h'));
    expect(byId.get('uuid')).toBe(installed('uuid/uuid.h'));
    expect(byId.get('lzma')).toBe(installed('lzma.h'));
  });
});
