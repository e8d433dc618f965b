import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { arch as nodeArch } from 'node:os';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { errorOf } from '@cpy/harness';
import { splitCompiler } from '../compile/spec.js';
import { buildCPython, configureArguments, packBuild, packBuilder, parseBuildSpec, withBuildDirLock, type Builder, type BuildEvent, type BuildResult, type PackBuildOptions, type SourceVerification, artifactMetadataFor, readBuildResult } from '../index.js';
import type { RejectedArtifact } from '@cpy/artifact';
import { BUILD_REQUIREMENTS } from '../requirements.js';
import { BUILD_RESULT_FILE } from '../compile/build.js';
import { parseMakeModuleReport } from '../compile/modules.js';
import { PROVISION_SCRIPT } from '../compile/builders.js';
import { type RunOptions } from '../compile/runner.js';
import { crossAnswers } from '../compile/cross.js';
import { hostExec } from '../exec.js';
import { ALL_HEADERS, DEBIAN, GENTOO, TOOLS, fakeBuilder } from './fake-builder.js';

const MAKE_TAIL = `LD_LIBRARY_PATH=/b ./python -E -c 'import sys' >platform
The necessary bits to build these optional modules were not found:
_dbm                      _gdbm
To find the necessary bits, look in configure.ac and config.log.

Following modules built successfully but were removed because they could not be imported:
_tkinter

Checked 112 modules (33 built-in, 76 shared, 1 n/a on linux-x86_64, 0 disabled, 2 missing, 1 failed on import)
`;

const ALL_OK = { ssl: null, sqlite3: null, uuid: null, lzma: null, bz2: null, ctypes: null, zlib: null, readline: null, curses: null, dbm: null, tkinter: null };

interface Script {
  headers?: string[];
  imports?: Record<string, string | null>;
  exitCodes?: Partial<Record<string, number>>;
  /** Programs the builder has besides the build tools. */
  programs?: string[];
  /** The builder's /etc/os-release (default Debian 12). */
  osRelease?: string;
  /** More output of a step (its last lines, after the usual ones). */
  says?: Partial<Record<string, string>>;
  /** A command that never ends until aborted. */
  hangOn?: string;
  /** A cross build's container: the aarch64 cross compiler is `cc`; qemu-aarch64-static there or not; a native python3 already built. */
  cross?: { emulator: boolean; buildPython?: string };
  /** The release the tarball really is: its Include/patchlevel.h (written by tar) and the version python3 prints. */
  release?: { patchlevel?: string; python?: string };
  /** The prefix the build was given (make install writes the tree there under DESTDIR). */
  prefix?: string;
}

/** A builder whose commands are scripted: records what ran, writes fake logs. */
function scriptedBuilder(script: Script): Builder & { ran: string[][]; envs: Record<string, string>[]; started: unknown[] } {
  const ran: string[][] = [];
  const envs: Record<string, string>[] = [];
  const started: unknown[] = [];
  const exec = fakeBuilder({ osRelease: script.osRelease ?? DEBIAN, programs: [...TOOLS, 'nproc', ...(script.programs ?? [])], headers: script.headers ?? ALL_HEADERS, pkgConfig: ['tk'] });
  return {
    kind: script.cross ? 'container' : 'host',
    description: 'a scripted builder',
    ran,
    envs,
    started,
    exec: async (file, args, options) => {
      if (file === 'nproc') return { exitCode: 0, stdout: '4\n', stderr: '' };
      // The check for a pip at the build's prefix runs for real on a prefix under the test's
      // directory; the default prefix (/opt/python-3.13.5) is this machine's, not the test's.
      if (file === 'sh' && args[2] === 'pip-at-prefix') return args[3]!.startsWith(work) ? hostExec(file, args, options) : { exitCode: 0, stdout: '', stderr: '' };
      if (file === 'uname') return { exitCode: 0, stdout: 'x86_64\n', stderr: '' };
      if (script.cross && file === 'sh' && args[0] === '-c' && args[1]!.startsWith('command -v')) {
        return script.cross.emulator ? { exitCode: 0, stdout: `/usr/bin/${args[3]}\n`, stderr: '' } : { exitCode: 1, stdout: '', stderr: '' };
      }
      if (script.cross && file.endsWith('/build-python/python')) {
        return script.cross.buildPython ? { exitCode: 0, stdout: `${script.cross.buildPython}\n`, stderr: '' } : { exitCode: 127, stdout: '', stderr: 'not found' };
      }
      return exec(script.cross && file === 'aarch64-linux-gnu-gcc' ? 'cc' : file, args, options);
    },
    async run(argv, options: RunOptions) {
      ran.push([...argv]);
      envs.push({ ...(options.env ?? {}) });
      const program = argv[0]!.startsWith('qemu-') ? argv[3]! : argv[0]!;
      const key = argv[0] === 'make' ? (argv[1] === 'install' ? 'install' : 'make') : program.split('/').pop()!;
      if (script.hangOn === key) {
        await new Promise((_resolve, reject) => options.signal?.addEventListener('abort', () => reject(new Error('killed'))));
      }
      if (key === 'tar' && script.release?.patchlevel) {
        const src = argv[argv.indexOf('-C') + 1]!;
        await mkdir(join(src, 'Include'), { recursive: true });
        await writeFile(join(src, 'Include', 'patchlevel.h'), `#define PY_MINOR_VERSION 13\n#define PY_VERSION "${script.release.patchlevel}"\n`);
      }
      if (key === 'install') await mkdir(join(argv.find((a) => a.startsWith('DESTDIR='))!.replace(/^DESTDIR=/, ''), script.prefix ?? '/opt/python-3.13.5', 'bin'), { recursive: true });
      let out = `${key} output\n`;
      if (key === 'make') out += 'gcc -c -o Objects/a.o Objects/a.c\n' + MAKE_TAIL;
      if (key === 'python3') out += `Python ${script.release?.python ?? '3.13.5'}\n` + JSON.stringify(script.imports ?? ALL_OK) + '\n';
      out += script.says?.[key] ?? '';
      await writeFile(options.logFile, out, { flag: 'a' });
      for (const line of out.split('\n')) options.onLine?.(line);
      return { exitCode: script.exitCodes?.[key] ?? 0 };
    },
    start: async (_dir, _log, _signal, options) => void started.push(options),
    check: async () => 'scripted',
    identity: async () => 'scripted',
    stop: async () => undefined,
  };
}

let work: string;
let tarball: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-build-unit-'));
  tarball = join(work, 'Python-3.13.5.tar.xz');
  await writeFile(tarball, 'not really a tarball');
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const run = (builder: Builder, extra: { signal?: AbortSignal; onEvent?: (e: BuildEvent) => void; arch?: string; prefix?: string; env?: Record<string, string>; minFreeBytes?: number } = {}) =>
  buildCPython({
    spec: parseBuildSpec({ version: '3.13.5', ...(extra.arch ? { arch: extra.arch } : {}), ...(extra.prefix ? { prefix: extra.prefix } : {}), ...(extra.env ? { env: extra.env } : {}) }),
    source: { path: tarball, fileName: 'Python-3.13.5.tar.xz', sha256: 'ab'.repeat(32) },
    workDir: work,
    builder,
    minFreeBytes: extra.minFreeBytes ?? 1,
    ...(extra.signal ? { signal: extra.signal } : {}),
    ...(extra.onEvent ? { onEvent: extra.onEvent } : {}),
  });

describe('the build spec', () => {
  it('defaults the prefix and profile, and builds a shared libpython with no rpath of its own', () => {
    const spec = parseBuildSpec({ version: '3.13.5' });
    expect(spec).toMatchObject({ prefix: '/opt/python-3.13.5', profile: 'fast', build: 1, builder: { kind: 'host' } });
    expect(configureArguments(spec)).toEqual(['--prefix=/opt/python-3.13.5', '--enable-shared']);
    const release = parseBuildSpec({ version: '3.13.5', profile: 'release', env: { LDFLAGS: '-L/x' }, configureArgs: ['--with-lto=thin'] });
    expect(configureArguments(release)).toEqual([
      '--prefix=/opt/python-3.13.5',
      '--enable-shared',
      'LDFLAGS=-L/x',
      '--enable-optimizations',
      '--with-lto',
      '--with-lto=thin',
    ]);
    // The compiler and flags from the environment are configure's arguments, recorded with them;
    // a launcher (ccache) is not: configure writes CC into sysconfig, for every extension users build.
    const flags = parseBuildSpec({ version: '3.13.5', env: { CC: ' /usr/bin/ccache  gcc -m64', CFLAGS: '-O2 -g', CPPFLAGS: '-I/usr/include/openssl11', PKG_CONFIG_PATH: '/x' } });
    expect(configureArguments(flags)).toEqual(['--prefix=/opt/python-3.13.5', '--enable-shared', 'CC=gcc -m64', 'CFLAGS=-O2 -g', 'CPPFLAGS=-I/usr/include/openssl11']);
    expect(splitCompiler('sccache clang')).toEqual({ launcher: 'sccache', compiler: 'clang' });
    expect(splitCompiler('gcc-13')).toEqual({ launcher: null, compiler: 'gcc-13' });
    expect(splitCompiler('ccache')).toEqual({ launcher: null, compiler: 'ccache' });
    // A link in ccache's directory of compiler names is a launcher too; CXX is split as CC is.
    expect(splitCompiler('/usr/lib/ccache/gcc')).toEqual({ launcher: '/usr/lib/ccache/gcc', compiler: 'gcc' });
    expect(configureArguments(parseBuildSpec({ version: '3.13.5', env: { CC: '/usr/lib/ccache/gcc', CXX: 'ccache g++' } }))).toEqual(['--prefix=/opt/python-3.13.5', '--enable-shared', 'CC=gcc', 'CXX=g++']);
    expect(() => parseBuildSpec({ version: '3.13' })).toThrow();
    expect(() => parseBuildSpec({ version: '3.13.5', prefix: 'relative' })).toThrow();
    // A prefix that holds other software: relocation would rewrite its paths too (TZPATH under /usr).
    for (const prefix of ['/usr', '/usr/local/', '/opt', '/']) expect(() => parseBuildSpec({ version: '3.13.5', prefix })).toThrow(/a directory of its own/);
    expect(parseBuildSpec({ version: '3.13.5', prefix: '/usr/local/python3.13' }).prefix).toBe('/usr/local/python3.13');
  });
});

describe('buildCPython with a scripted builder', () => {
  it('refuses a tarball that is another release than the one asked for (a mirror can serve one the same manager signed): from its patchlevel.h, before configure; else from the built python3', async () => {
    const early = scriptedBuilder({ release: { patchlevel: '3.13.0' } });
    const refused = await errorOf(run(early));
    expect([refused.code, refused.message]).toEqual(['CPY_BUILD_SOURCE_VERSION_MISMATCH', 'Python-3.13.5.tar.xz holds CPython 3.13.0, not 3.13.5 (its Include/patchlevel.h says so)']);
    expect(early.ran.map((a) => a[0])).toEqual(['tar']);
    const late = scriptedBuilder({ release: { python: '3.12.11' } });
    expect((await errorOf(run(late))).code).toBe('CPY_BUILD_SOURCE_VERSION_MISMATCH');
    expect(existsSync(join(work, 'cpython-3.13.5-build1', BUILD_RESULT_FILE))).toBe(false);
    // The release asked for: built.
    expect((await run(scriptedBuilder({ release: { patchlevel: '3.13.5' } }))).version).toBe('3.13.5');
  });

  it('runs extract, configure, make -j<cpus>, make install DESTDIR, then the import check; writes the result last', async () => {
    const builder = scriptedBuilder({});
    const events: BuildEvent[] = [];
    const result = await run(builder, { onEvent: (e) => void events.push(e) });
    expect(builder.ran.map((a) => a[0] === 'make' ? a.slice(0, 2).join(' ') : a[0]!.split('/').pop())).toEqual(['tar', 'configure', 'make -j4', 'make install', 'python3']);
    expect(builder.ran[3]).toEqual(['make', 'install', 'LINK_PYTHON_OBJS=$(LIBRARY_OBJS)', `DESTDIR=${result.stagingDir}`]);
    expect(builder.ran[2]).toEqual(['make', '-j4', 'LINK_PYTHON_OBJS=$(LIBRARY_OBJS)']);
    expect(result.modules.present).toHaveLength(11);
    expect(result.modules.cpython).toEqual({ notFound: ['_dbm', '_gdbm'], failedToBuild: [], failedToImport: ['_tkinter'] });
    expect(Object.keys(result.logs)).toEqual(['extract', 'configure', 'make', 'install', 'check']);
    expect(await readFile(result.logs['make']!, 'utf8')).toMatch(/Checked 112 modules/);
    expect(JSON.parse(await readFile(join(result.buildDir, BUILD_RESULT_FILE), 'utf8'))).toMatchObject({ version: '3.13.5', makeJobs: 4, arch: 'x86_64', runtimePackages: {} });
    expect(events.filter((e) => e.type === 'phase').map((e) => (e as { phase: string }).phase)).toEqual(['provision', 'preflight', 'extract', 'configure', 'make', 'install', 'check']);
  });

  it('stops before configure when the builder lacks libssl-dev, naming ssl and the package', async () => {
    const builder = scriptedBuilder({ headers: ALL_HEADERS.filter((h) => h !== 'openssl/ssl.h') });
    const error = await errorOf(run(builder));
    expect(error.code).toBe('CPY_BUILD_MISSING_DEPENDENCIES');
    expect(error.message).toMatch(/ssl \(libssl-dev\)/);
    expect(error.hint).toMatch(/apt-get install -y libssl-dev/);
    expect(builder.ran).toEqual([]);
  });

  it('refuses, before anything is unpacked, a prefix that already holds a pip: make install would leave pip out of the artifact', async () => {
    const prefix = join(work, 'opt', 'python-3.13.5');
    const sitePackages = join(prefix, 'lib', 'python3.13', 'site-packages');
    // What is there but no pip the new python3 would see is no reason to refuse: other packages,
    // another version's pip (a shared prefix such as /usr/local).
    await mkdir(join(sitePackages, 'six-1.16.0.dist-info'), { recursive: true });
    await mkdir(join(prefix, 'lib', 'python3.12', 'site-packages', 'pip-24.0.dist-info'), { recursive: true });
    const fine = scriptedBuilder({ prefix });
    expect((await run(fine, { prefix })).installDir).toBe(join(work, 'cpython-3.13.5-build1', 'staging', prefix));
    // Nor does what the build runs see the pip of PYTHONPATH, PYTHONHOME or the user's site-packages,
    // which ensurepip's own python3 would otherwise take from this environment.
    const isolated = { PYTHONPATH: '', PYTHONHOME: '', PYTHONNOUSERSITE: '1' };
    for (const [i, argv] of fine.ran.entries()) if (argv[0] !== 'tar') expect(fine.envs[i]).toMatchObject(isolated);
    expect(fine.ran.map((a) => a[0]!.split('/').pop())).toEqual(['tar', 'configure', 'make', 'make', 'python3']);

    await mkdir(join(sitePackages, 'pip-25.1.1.dist-info'), { recursive: true });
    const builder = scriptedBuilder({ prefix });
    const error = await errorOf(run(builder, { prefix }));
    expect(error.code).toBe('CPY_BUILD_PREFIX_HAS_PIP');
    expect(error.message).toContain(`${prefix}, the build's prefix, already holds a Python with pip on this host (${join(sitePackages, 'pip-25.1.1.dist-info')})`);
    expect(error.message).toMatch(/the artifact would have no pip/);
    expect(error.hint).toBe(`build in a container (cpy build 3.13.5 --builder container --image <a Debian or Ubuntu image, e.g. localhost/debian-minbase:bookworm>), or move ${prefix} aside for the build (cpy uninstall 3.13.5, if cpy installed it)`);
    expect(builder.ran).toEqual([]);
  });

  it('fails when a critical module does not import, naming it and its package; optional ones are warnings', async () => {
    const builder = scriptedBuilder({ imports: { ...ALL_OK, lzma: '_lzma: ModuleNotFoundError: No module named _lzma', tkinter: '_tkinter: ImportError: x' } });
    const error = await errorOf(run(builder));
    expect(error.code).toBe('CPY_BUILD_CRITICAL_MODULE_MISSING');
    expect(error.message).toMatch(/lzma \(needs liblzma-dev\): _lzma: ModuleNotFoundError/);
    // The preflight found liblzma-dev: make's log is where the reason is (it said to install the package).
    expect(error.message).toMatch(/\(log: .*\/logs\/make\.log\)$/);
    expect(error.hint).toMatch(/^the builder has what they build from \(the preflight found it\): read why in .*\/logs\/make\.log and .*\/src\/config\.log/);
    expect(existsSync(join(work, 'cpython-3.13.5-build1', BUILD_RESULT_FILE))).toBe(false);

    const optional = await run(scriptedBuilder({ imports: { ...ALL_OK, tkinter: '_tkinter: ImportError: x' } }));
    expect(optional.warnings).toContain('optional module tkinter is missing (needs tk-dev)');
  });

  it('a failing configure says so with the log path and its last lines', async () => {
    const error = await errorOf(run(scriptedBuilder({ exitCodes: { configure: 1 } })));
    expect(error.code).toBe('CPY_BUILD_CONFIGURE_FAILED');
    expect(error.message).toMatch(/logs\/configure\.log\):\n\s+configure output/);
  });

  it('CC="ccache cc": configure gets cc (what sysconfig records for extensions), make compiles through ccache, the result names the compiler\'s version', async () => {
    const builder = scriptedBuilder({ programs: ['ccache'] });
    const result = await run(builder, { env: { CC: 'ccache cc', CXX: 'ccache c++' } });
    expect(builder.ran.find((a) => a[0] === './configure')).toEqual(expect.arrayContaining(['CC=cc', 'CXX=c++']));
    expect(builder.ran.find((a) => a[0] === 'make' && a[1] !== 'install')).toEqual(['make', '-j4', 'LINK_PYTHON_OBJS=$(LIBRARY_OBJS)', 'CC=ccache cc', 'CXX=ccache c++']);
    expect(builder.ran.find((a) => a[1] === 'install')).not.toContain('CC=ccache cc');
    for (const env of builder.envs) expect(env).not.toHaveProperty('CC');
    expect(result.configureArgs).toContain('CC=cc');
    // (It ran `ccache cc --version` as one program's name: an empty compiler in the metadata.)
    expect(result.compiler).toBe('cc 1.0');
  });

  it('too little room for the build is said as the disk\'s, with its own remedy (it was "missing dependencies", with the hint to install libraries, or tk-dev); beside a missing library, each with its remedy', async () => {
    const room = await errorOf(run(scriptedBuilder({}), { minFreeBytes: 10 ** 18 }));
    expect(room).toMatchObject({
      code: 'CPY_BUILD_DISK_FULL',
      message: expect.stringMatching(new RegExp(`^the build directory has no room for the build: .* free at ${work.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.* needed\\)$`)),
      hint: expect.stringMatching(/^free [\d.]+ GiB there, or build where there is room/),
    });
    const both = await errorOf(run(scriptedBuilder({ headers: ALL_HEADERS.filter((h) => h !== 'openssl/ssl.h') }), { minFreeBytes: 10 ** 18 }));
    expect(both).toMatchObject({ code: 'CPY_BUILD_MISSING_DEPENDENCIES', hint: expect.stringMatching(/apt-get install -y libssl-dev; and free [\d.]+ GiB there/) });
    expect(both.message).toMatch(/ssl \(libssl-dev\), disk \(.* free at /);
  });

  it('CC from the environment naming a compiler the builder lacks (CC=clang into a Debian container) is said as such, not "install gcc"', async () => {
    const error = await errorOf(run(scriptedBuilder({}), { env: { CC: 'clang' } }));
    expect(error).toMatchObject({ code: 'CPY_BUILD_MISSING_DEPENDENCIES', message: expect.stringContaining('cc (CC=clang, from your environment: clang not found)'), hint: expect.stringMatching(/^CC=clang comes from your environment: install that compiler on the builder, or unset CC/) });
  });

  it('a builder with no VERSION_ID (a rolling distribution) is refused in preflight, before anything is unpacked: the artifact is named by it', async () => {
    const builder = scriptedBuilder({ osRelease: GENTOO });
    const error = await errorOf(run(builder));
    expect(error).toMatchObject({ code: 'CPY_BUILD_UNKNOWN_OS', message: expect.stringContaining('(a scripted builder: gentoo) has no VERSION_ID') });
    expect(builder.ran).toEqual([]);
    // An ID or VERSION_ID no artifact name can hold: refused there too (the name was made, and
    // failed as a bug in cpy, when packing the finished build).
    for (const [osRelease, said] of [
      ['PRETTY_NAME="openSUSE Leap 15.5"\nID="opensuse-leap"\nVERSION_ID="15.5"\n', "its ID 'opensuse-leap' is not lower-case letters only"],
      ['PRETTY_NAME="Alpine Linux edge"\nID=alpine\nVERSION_ID=3.21.0_alpha20240807\n', "its VERSION_ID '3.21.0_alpha20240807' is not digits and dots"],
    ] as const) {
      const other = scriptedBuilder({ osRelease });
      expect(await errorOf(run(other))).toMatchObject({ code: 'CPY_BUILD_UNKNOWN_OS', message: expect.stringContaining(`cannot name an artifact: ${said}`) });
      expect(other.ran).toEqual([]);
    }
  });

  it('a step that fails because the disk filled is CPY_BUILD_DISK_FULL, not its usual cause (make: "a missing -dev package")', async () => {
    const full = await errorOf(run(scriptedBuilder({ exitCodes: { make: 2 }, says: { make: 'Objects/b.o: No space left on device\nmake: *** [Makefile:2054: Objects/b.o] Error 1\n' } })));
    expect(full).toMatchObject({ code: 'CPY_BUILD_DISK_FULL', message: expect.stringContaining('make failed (exit 2)'), hint: expect.stringMatching(/^free space where the build is \(.*cpython-3\.13\.5-build1; /) });
    const other = await errorOf(run(scriptedBuilder({ exitCodes: { make: 2 } })));
    expect(other.hint).toContain('missing -dev package');
  });

  it('cancelling stops the running command and leaves no result or staging tree to trust', async () => {
    const controller = new AbortController();
    const events: string[] = [];
    const pending = run(scriptedBuilder({ hangOn: 'make' }), {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'phase') {
          events.push(e.phase);
          if (e.phase === 'make') setTimeout(() => controller.abort(), 20);
        }
      },
    });
    expect((await errorOf(pending)).code).toBe('CPY_BUILD_CANCELLED');
    expect(events.at(-1)).toBe('make');
    expect(existsSync(join(work, 'cpython-3.13.5-build1', 'staging'))).toBe(false);
    expect(existsSync(join(work, 'cpython-3.13.5-build1', BUILD_RESULT_FILE))).toBe(false);
  });
});

describe('one build of a directory at a time', () => {
  it('a second build of the same version, build number and architecture is refused at once while one runs, and takes nothing from it', async () => {
    const controller = new AbortController();
    let making!: () => void;
    const inMake = new Promise<void>((resolve) => (making = resolve));
    const first = run(scriptedBuilder({ hangOn: 'make' }), { signal: controller.signal, onEvent: (e) => void (e.type === 'phase' && e.phase === 'make' && making()) });
    await inMake;
    const dir = join(work, 'cpython-3.13.5-build1');
    const before = await readdir(join(dir, 'logs'));
    const second = await errorOf(run(scriptedBuilder({})));
    expect([second.code, second.message]).toEqual(['CPY_BUILD_BUSY', expect.stringMatching(/^another build holds .*\/cpython-3\.13\.5-build1\.lock \(process \d+ on /)]);
    // A pack of that directory, spelled through a link to the work directory (a home behind a
    // link, cd's physical path): the same lock, refused.
    await symlink(work, `${work}-link`);
    try {
      const pack = await errorOf(withBuildDirLock(join(`${work}-link`, 'cpython-3.13.5-build1'), async () => 'packed'));
      expect(pack.code).toBe('CPY_BUILD_BUSY');
    } finally {
      await rm(`${work}-link`);
    }
    // The running build's tree and logs are as they were: the refused one emptied nothing.
    expect(await readdir(join(dir, 'logs'))).toEqual(before);
    expect(before).toContain('configure.log');
    expect(existsSync(join(dir, 'src'))).toBe(true);
    controller.abort();
    expect((await errorOf(first)).code).toBe('CPY_BUILD_CANCELLED');
    // Released with the build: the next one runs, and leaves no lock behind.
    expect((await run(scriptedBuilder({}))).version).toBe('3.13.5');
    expect(existsSync(`${dir}.lock`)).toBe(false);
  });

  it('a work directory whose path has a space or a quote is refused before anything runs there (make failed in it, minutes after the download)', async () => {
    for (const [name, said] of [['my builds', 'a space'], ["it's", "a '"], ['a$b', 'a $']] as const) {
      const workDir = join(work, name);
      const builder = scriptedBuilder({});
      const error = await errorOf(buildCPython({ spec: parseBuildSpec({ version: '3.13.5' }), source: { path: tarball, fileName: 'Python-3.13.5.tar.xz', sha256: 'ab'.repeat(32) }, workDir, builder, minFreeBytes: 1 }));
      expect([error.code, error.message]).toEqual(['CPY_BUILD_WORK_DIR_UNUSABLE', `cannot build in ${workDir}: its path has ${said}, which CPython's Makefile does not quote: its make install would fail there, after the whole build`]);
      expect([builder.ran, builder.started, existsSync(workDir)]).toEqual([[], [], false]);
    }
  });
});

describe('parseMakeModuleReport', () => {
  it("reads CPython's end-of-make module report", () => {
    expect(parseMakeModuleReport(MAKE_TAIL)).toEqual({ notFound: ['_dbm', '_gdbm'], failedToBuild: [], failedToImport: ['_tkinter'] });
    expect(parseMakeModuleReport('Failed to build these modules:\n_ssl   _hashlib\n\nmore')).toMatchObject({ failedToBuild: ['_ssl', '_hashlib'] });
  });
});

describe('a cross build (--arch aarch64 on x86_64)', () => {
  const VERIFIED = { method: 'unsigned', allowUnsigned: true, openpgp: null, sigstore: null } as unknown as SourceVerification;

  it('builds a native python3 first, then configures for aarch64-linux-gnu with it and the ac_cv answers, and checks the imports under qemu', async () => {
    const builder = scriptedBuilder({ cross: { emulator: true } });
    const events: BuildEvent[] = [];
    const result = await run(builder, { arch: 'aarch64', onEvent: (e) => void events.push(e) });
    const src = join(result.buildDir, 'src');
    expect(result.buildDir).toBe(join(work, 'cpython-3.13.5-aarch64-build1'));
    expect(builder.started).toEqual([{ targetArch: 'aarch64' }]);
    expect(builder.ran.map((a) => (a[0] === 'make' ? a.slice(0, 2).join(' ') : a[0]))).toEqual([
      'tar',
      join(src, 'configure'),
      'make -j4',
      './configure',
      'make -j4',
      'make install',
      'qemu-aarch64-static',
    ]);
    // The native build: configure's defaults, none of the target's environment.
    // Its prefix is the target's: make install runs ensurepip with it, and pip goes under its sys.prefix.
    expect(builder.ran[1]).toEqual([join(src, 'configure'), '--prefix=/opt/python-3.13.5']);
    expect(builder.envs[1]).toEqual({});
    expect(builder.ran[3]).toEqual([
      './configure',
      '--build=x86_64-linux-gnu',
      '--host=aarch64-linux-gnu',
      `--with-build-python=${join(result.buildDir, 'build-python', 'python')}`,
      ...crossAnswers('aarch64'),
      '--prefix=/opt/python-3.13.5',
      '--enable-shared',
    ]);
    expect(builder.ran[3]).toEqual(expect.arrayContaining(['ac_cv_file__dev_ptmx=yes', 'ac_cv_file__dev_ptc=no']));
    expect(builder.envs[3]).toEqual({ CC: 'aarch64-linux-gnu-gcc', PKG_CONFIG_LIBDIR: '/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig', PYTHONPATH: '', PYTHONHOME: '', PYTHONNOUSERSITE: '1' });
    expect(builder.ran[6]!.slice(0, 4)).toEqual(['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu', join(result.installDir, 'bin', 'python3')]);
    expect(events.filter((e) => e.type === 'phase').map((e) => (e as { phase: string }).phase)).toEqual(['provision', 'preflight', 'extract', 'build-python', 'configure', 'make', 'install', 'check']);
    expect(result.arch).toBe('aarch64');
    expect(result.cross).toMatchObject({ arch: 'aarch64', build: 'x86_64-linux-gnu', host: 'aarch64-linux-gnu', emulator: { program: 'qemu-aarch64-static', args: ['-L', '/usr/aarch64-linux-gnu'] } });
    expect(result.cross!.checks.map((c) => [c.id, c.ran, c.ok])).toEqual([
      ['python3-version', true, true],
      ['critical-imports', true, true],
    ]);
    expect(result.compiler).toBe('cc 1.0');
    // The metadata records the target and which checks ran; a result read back keeps it.
    const metadata = artifactMetadataFor(result, VERIFIED);
    expect(metadata.platform.arch).toBe('aarch64');
    expect(metadata.builtWith.cross).toMatchObject({ build: 'x86_64-linux-gnu', host: 'aarch64-linux-gnu', emulator: 'qemu-aarch64-static -L /usr/aarch64-linux-gnu' });
    expect((await readBuildResult(result.buildDir)).cross).toEqual(result.cross);
    // The build directory moved: its own tree is read, not the one where it was built.
    const moved = `${result.buildDir}-moved`;
    await rename(result.buildDir, moved);
    expect(await readBuildResult(moved)).toMatchObject({ buildDir: moved, installDir: join(moved, relative(result.buildDir, result.installDir)) });
    // Its tree gone (space freed): said, not an internal error when packing.
    await rm(join(moved, relative(result.buildDir, result.installDir)), { recursive: true });
    await expect(readBuildResult(moved)).rejects.toMatchObject({ code: 'CPY_BUILD_NOT_FINISHED', message: expect.stringContaining('the tree this build installed, is not there') });
  });

  it('reuses a native python3 of the same version; without qemu it skips only what runs target code, and says so', async () => {
    const builder = scriptedBuilder({ cross: { emulator: false, buildPython: '3.13.5 /opt/python-3.13.5' } });
    const result = await run(builder, { arch: 'aarch64' });
    expect(builder.ran.map((a) => (a[0] === 'make' ? a.slice(0, 2).join(' ') : a[0]))).toEqual(['tar', './configure', 'make -j4', 'make install']);
    expect(await readFile(result.logs['build-python']!, 'utf8')).toMatch(/^reusing .*build-python\/python \(Python 3\.13\.5, prefix \/opt\/python-3\.13\.5\)/);
    expect(result.cross!.emulator).toBeNull();
    expect(result.cross!.checks.every((c) => !c.ran)).toBe(true);
    expect(result.warnings).toContain('qemu-aarch64-static is not on the builder: the aarch64 python3 was not run (module check skipped; validation needs an aarch64 host)');
    // Judged from make's report: _gdbm not found, _tkinter removed.
    expect(result.modules.missing.map((m) => m.id)).toEqual(['dbm', 'tkinter']);
  });

  it('refuses a cross build on the host builder, pointing at the container builder', async () => {
    const host = { ...scriptedBuilder({}), kind: 'host' as const };
    const error = await errorOf(run(host, { arch: 'aarch64' }));
    expect(error.code).toBe('CPY_BUILD_CROSS_NEEDS_CONTAINER');
    expect(error.hint).toMatch(/--arch aarch64 --builder container --image/);
  });

  it('an arch the builder has is a native build', async () => {
    const result = await run(scriptedBuilder({}), { arch: 'x86_64' });
    expect(result.cross).toBeNull();
    expect(result.arch).toBe('x86_64');
    expect(() => parseBuildSpec({ version: '3.13.5', arch: 'ARM 64' })).toThrow();
  });
});

describe('the provisioning script', () => {
  it("--arch naming the builder's own architecture is a native build on any distribution (an Alpine or RHEL image was refused as a cross build); another needs Debian's multiarch", async () => {
    // A system with apk and no dpkg: only these programs on PATH, apk a stub that says what it was
    // asked, id saying root (the script refuses to run as another user).
    const bin = join(work, 'alpine-bin');
    await mkdir(bin);
    await writeFile(join(bin, 'uname'), '#!/bin/sh\nexec /usr/bin/uname "$@"\n', { mode: 0o755 });
    await writeFile(join(bin, 'id'), '#!/bin/sh\necho 0\n', { mode: 0o755 });
    await writeFile(join(bin, 'apk'), `#!/bin/sh\necho "apk $*" > ${join(work, 'apk-args')}\n`, { mode: 0o755 });
    const provision = (arch: string) =>
      new Promise<{ code: number | null; stderr: string }>((done) => {
        const child = spawn('/bin/sh', [fileURLToPath(PROVISION_SCRIPT)], { env: { PATH: bin, CPY_PROVISION_TARGET_ARCH: arch } });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('close', (code) => done({ code, stderr }));
      });
    const arch = () => ({ x64: 'x86_64', arm64: 'aarch64' })[nodeArch() as 'x64' | 'arm64'] ?? nodeArch();
    const native = await provision(arch());
    expect(native).toEqual({ code: 0, stderr: '' });
    expect(await readFile(join(work, 'apk-args'), 'utf8')).toMatch(/^apk add --no-cache -q .*musl-dev/);
    const other = await provision(arch() === 'riscv64' ? 'aarch64' : 'riscv64');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('needs Debian or Ubuntu (dpkg multiarch)');
  });

  it('installs every Debian, RHEL and Alpine package the build requirements name', async () => {
    const text = await readFile(PROVISION_SCRIPT, 'utf8');
    // A list may be made of others ("$DEBIAN_TOOLS $DEBIAN_LIBS").
    const list = (name: string): string[] =>
      new RegExp(`^${name}="([^"]+)"`, 'm')
        .exec(text)![1]!
        .split(' ')
        .flatMap((p) => (p.startsWith('$') ? list(p.slice(1)) : [p]));
    for (const [family, variable] of [['debian', 'DEBIAN_PACKAGES'], ['rhel', 'RHEL_PACKAGES'], ['alpine', 'ALPINE_PACKAGES']] as const) {
      const needed = BUILD_REQUIREMENTS.flatMap((r) => r.packages[family]);
      expect(list(variable)).toEqual(expect.arrayContaining(needed));
    }
    // A cross build installs the same libraries for the target: every library package is in DEBIAN_LIBS.
    const tools = list('DEBIAN_TOOLS');
    expect([...list('DEBIAN_LIBS'), ...tools].sort()).toEqual(list('DEBIAN_PACKAGES').sort());
    const libs = BUILD_REQUIREMENTS.filter((r) => r.kind === 'module').flatMap((r) => r.packages.debian);
    expect(list('DEBIAN_LIBS')).toEqual(expect.arrayContaining(libs));
  });
});

describe('packBuild', () => {
  const VERIFIED = { method: 'unsigned', allowUnsigned: true, openpgp: null, sigstore: null } as unknown as SourceVerification;

  it('refuses, before the output directory is touched, a build whose distribution cannot name an artifact, and a cross build asked to run the tests', async () => {
    const result = await run(scriptedBuilder({}));
    const outDir = join(work, 'out');
    const refused = async (changed: Partial<BuildResult>, options: Partial<PackBuildOptions> = {}) => {
      const error = await errorOf(packBuild({ ...result, ...changed }, VERIFIED, { outDir, ...options }));
      expect(existsSync(outDir)).toBe(false);
      expect(existsSync(join(result.buildDir, 'artifact-checks'))).toBe(false);
      return [error.code, error.message];
    };
    expect(await refused({ os: { ...result.os, versionId: '' } })).toEqual(['CPY_ARTIFACT_UNKNOWN_OS', `the builder (${result.os.prettyName}) has no VERSION_ID in /etc/os-release, which names the artifact and the hosts it installs on`]);
    expect((await refused({ os: { ...result.os, id: 'my-os' } }))[0]).toBe('CPY_ARTIFACT_UNKNOWN_OS');
    const cross = (await run(scriptedBuilder({ cross: { emulator: true } }), { arch: 'aarch64' })).cross;
    expect(await refused({ cross, arch: 'aarch64' }, { runTests: 'critical' })).toEqual(['CPY_ARTIFACT_BAD_OPTIONS', "running CPython's tests starts python3 from python3: not possible for a cross build (aarch64) under user-mode emulation"]);
  });

  it('a tree whose checks fail goes to rejected/ with a note saying why; the output directory gets nothing else, and the scratch trees go', async () => {
    const result = await run(scriptedBuilder({}));
    // What make install left, in part: the license, and a python3 that does not start.
    await mkdir(join(result.installDir, 'lib', 'python3.13'), { recursive: true });
    await writeFile(join(result.installDir, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF LICENSE AGREEMENT FOR PYTHON\n');
    await writeFile(join(result.installDir, 'bin', 'python3'), '#!/bin/sh\nexit 127\n', { mode: 0o755 });
    const outDir = join(work, 'out');
    await mkdir(outDir);
    const said: string[] = [];
    const out = await packBuild(result, VERIFIED, { outDir, testsAsset: false, onLog: (line) => void said.push(line) });
    expect(out.validation?.ok).toBe(false);
    expect('notePath' in out.packed).toBe(true);
    const rejected = out.packed as RejectedArtifact;
    expect(rejected.path).toBe(join(outDir, 'rejected', basename(rejected.path)));
    expect(await readFile(rejected.notePath, 'utf8')).toMatch(/^FAIL /m);
    expect(await readdir(outDir)).toEqual(['rejected']);
    expect(existsSync(join(result.buildDir, 'artifact-checks'))).toBe(false);
    expect(said[0]).toBe(`packing ${result.installDir}`);
    expect(said.at(-1)).toMatch(/failed its checks: kept apart in .*rejected/);
  });

  it('a build made in a container is checked there: packBuild starts the builder it is given (or the recorded one), runs the checks through it and stops it; unchecked, it starts none', async () => {
    const result = await run(scriptedBuilder({}));
    // The builder's spec is recorded with the build, as asked for.
    expect((await readBuildResult(result.buildDir)).builder.spec).toEqual({ kind: 'host' });
    await mkdir(join(result.installDir, 'lib', 'python3.13'), { recursive: true });
    await writeFile(join(result.installDir, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF LICENSE AGREEMENT FOR PYTHON\n');
    await writeFile(join(result.installDir, 'bin', 'python3'), '#!/bin/sh\nexit 127\n', { mode: 0o755 });
    const inContainer: BuildResult = { ...result, builder: { kind: 'container', description: 'container localhost/debian-minbase:bullseye (podman)', identity: `localhost/debian-minbase:bullseye@${'c'.repeat(64)}` } };
    const events: string[] = [];
    const ran: string[] = [];
    const there: Builder = {
      kind: 'container',
      description: 'container bullseye',
      exec: async (file, args, o) => {
        ran.push(file);
        return hostExec(file, args, o);
      },
      run: async () => ({ exitCode: 0 }),
      start: async (dir, log, _signal, o) => void events.push(`start ${relative(work, dir)} ${relative(work, log)} ${JSON.stringify(o)}`),
      check: async () => 'container bullseye',
      identity: async () => 'bullseye',
      stop: async () => void events.push('stop'),
    };
    const outDir = join(work, 'out');
    await mkdir(outDir);
    const said: string[] = [];
    const out = await packBuild(inContainer, VERIFIED, { outDir, testsAsset: false, builder: there, onLog: (line) => void said.push(line) });
    expect(events).toEqual([`start ${relative(work, result.buildDir)} ${relative(work, join(result.buildDir, 'logs', 'pack-builder.log'))} {}`, 'stop']);
    expect(said).toContain(`starting container bullseye again, where the build ran, to check the artifact there (log ${join(result.buildDir, 'logs', 'pack-builder.log')})`);
    // Not the image the build recorded (its tag moved since): said.
    expect(said).toContain(`note: the build ran in localhost/debian-minbase:bullseye@${'c'.repeat(64)}; the checks run in bullseye`);
    // Its python3 ran there (on this host, it would have run without the builder).
    expect(ran).toContain(join(result.buildDir, 'artifact-checks', 'validate', 'tree', 'opt', 'python-3.13.5', 'bin', 'python3'));
    expect(out.validation?.ok).toBe(false);
    // Unchecked, none is needed: packed here, with no container engine asked.
    expect(packBuilder(inContainer, { validate: false })).toBeNull();
    const unchecked = await packBuild(inContainer, VERIFIED, { outDir: join(work, 'unchecked'), testsAsset: false, validate: false });
    expect([unchecked.validation, 'notePath' in unchecked.packed]).toEqual([null, false]);

    // The recorded one: a result written before the spec was, its image read from its identity.
    expect(packBuilder(inContainer, {})?.description).toBe('container localhost/debian-minbase:bullseye');
    expect(packBuilder(result, {})).toBeNull();
    const spec = { kind: 'container' as const, image: 'localhost/debian-minbase:bookworm', engine: 'podman' as const, provision: true, provisionExclude: ['libssl-dev'] };
    expect(packBuilder({ ...inContainer, builder: { ...inContainer.builder, spec } }, {})?.description).toBe('container localhost/debian-minbase:bookworm');
    // The artifact's metadata names the builder, not the spec it was asked with (a Vagrantfile's path on this machine).
    const { spec: _spec, ...named } = { ...inContainer.builder, spec };
    expect(artifactMetadataFor({ ...inContainer, builder: { ...inContainer.builder, spec } }, VERIFIED).builtWith.builder).toEqual(named);
    // A cross build is checked under its emulator on its builder; unchecked, or with no emulator
    // (nowhere to check it), none is started (its binutils are looked for here, as they were).
    const emulated = { ...inContainer, cross: (await run(scriptedBuilder({ cross: { emulator: true } }), { arch: 'aarch64' })).cross };
    const bare = { ...inContainer, cross: (await run(scriptedBuilder({ cross: { emulator: false } }), { arch: 'aarch64' })).cross };
    expect([packBuilder(emulated, {}) !== null, packBuilder(emulated, { validate: false }), packBuilder(bare, {})]).toEqual([true, null, null]);
    // The image from the description of such a result, its identity aside (a bare digest reference, when inspect failed then).
    expect(packBuilder({ ...inContainer, builder: { ...inContainer.builder, identity: `debian@sha256:${'d'.repeat(64)}`, description: `container debian@sha256:${'d'.repeat(64)} (docker)` } }, {})?.description).toBe(`container debian@sha256:${'d'.repeat(64)}`);
    const vm = { ...result, builder: { kind: 'vagrant', description: 'Vagrant VM cpy-builder', identity: 'vagrant cpy-builder ubuntu 20.04 x86_64' } };
    expect(packBuilder({ ...vm, builder: { ...vm.builder, spec: { kind: 'vagrant', vagrantDir: '/src/vagrant' } } }, {})?.kind).toBe('vagrant');
    const unknown = await errorOf((async () => packBuilder(vm, {}))());
    expect([unknown.code, unknown.hint]).toEqual(['CPY_BUILD_RESULT_INVALID', 'pack it unchecked (--no-validate) and check it in the VM (cpy artifact validate), or build again']);
  });
});
