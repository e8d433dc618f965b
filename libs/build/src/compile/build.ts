import { appendFile, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { existsSync, realpathSync } from 'node:fs';
import { CpyError, type ErrorCodeOf, type LockOwner, parseVersion, withLock, writeFileAtomic } from '@cpy/core';
import { externalNeeds, gnuTriplet, scanTree } from '@cpy/artifact';
import { checkBuildHost, unbuildablePath, type BuildHostReport } from '../doctor.js';
import { osNamingProblem, type OsInfo } from '../os-release.js';
import type { Exec } from '../exec.js';
import { createBuilder, hostBuilder, type Builder } from './builders.js';
import { crossConfigureArguments, crossEnvironment, emulatorFor, hasEmulator, type CrossBuild, type CrossCheck } from './cross.js';
import { IMPORT_CHECK_SCRIPT, MODULE_CHECKS, moduleReport, parseMakeModuleReport, type CPythonModuleSummary, type ModuleReport } from './modules.js';
import { cancelled, logTail, saysDiskFull } from './runner.js';
import { makeRoomForPrefix } from './prefix-slot.js';
import { CONFIGURE_VARIABLES, configureArguments, launchedCompilers, makeJobs, splitCompiler, STATIC_INTERPRETER, type BuildSpec, type BuilderSpec } from './spec.js';

export type BuildPhase = 'provision' | 'preflight' | 'extract' | 'build-python' | 'configure' | 'make' | 'install' | 'check';

export type BuildEvent =
  | { readonly type: 'phase'; readonly phase: BuildPhase; readonly logFile: string | null }
  | { readonly type: 'progress'; readonly phase: BuildPhase; readonly elapsedMs: number; readonly ratio: number | null }
  | { readonly type: 'phase-done'; readonly phase: BuildPhase; readonly elapsedMs: number };

export interface BuildSource {
  /** Host path of the verified tarball. */
  readonly path: string;
  readonly fileName: string;
  readonly sha256: string;
}

export interface BuildOptions {
  readonly spec: BuildSpec;
  readonly source: BuildSource;
  /** Host directory for builds: the build goes to <workDir>/cpython-<version>-build<N>/. */
  readonly workDir: string;
  /** Default: the one the spec names. */
  readonly builder?: Builder;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: BuildEvent) => void;
  /** Free bytes the build needs on workDir's filesystem (default 3 GiB). */
  readonly minFreeBytes?: number;
  /**
   * The caller holds withBuildLock for this build (to pack the tree before another build of the
   * directory can start); otherwise buildCPython takes it for the build's own duration.
   */
  readonly locked?: boolean;
}

/** The directory a build of `spec` happens in: <workDir>/cpython-<version>[-<arch>]-build<N>. */
export function buildDirOf(workDir: string, spec: Pick<BuildSpec, 'version' | 'arch' | 'build'>): string {
  // A build for a named architecture (--arch) has its own directory: a cross build's tree and
  // its native python3 never mix with a native build's.
  return join(workDir, `cpython-${spec.version}${spec.arch ? `-${spec.arch}` : ''}-build${spec.build}`);
}

/**
 * A build directory is one build's at a time: a second build of it (the same version, build
 * number and architecture, for another image, say) would empty the first one's tree under it.
 * Held, it is refused at once (CPY_BUILD_BUSY); the lock is @cpy/core's, beside the directory.
 */
const BUILD_LOCK: LockOwner = {
  code: 'CPY_BUILD_BUSY',
  holds: 'build',
  whenHeld: (path) => `wait for it to finish, or build in another directory (cpy build --work-dir <dir>); if no cpy is running there, remove ${path}`,
};

/**
 * The lock file of a build directory: `<dir>.lock` beside it, its parent's links resolved, so that a
 * build (its work directory from HOME, through a link) and a pack (the path as typed, or the
 * physical one of cd) of one directory take one lock.
 */
function buildDirLockPath(buildDir: string): string {
  let parent = dirname(buildDir);
  try {
    parent = realpathSync(parent);
  } catch {
    // (not made yet: the path as given)
  }
  return join(parent, `${basename(buildDir)}.lock`);
}

/**
 * A work directory no build can happen in (unbuildablePath: a space or a quote in its path),
 * refused (CPY_BUILD_WORK_DIR_UNUSABLE): make install failed there, after the whole build.
 */
export function refuseUnbuildableWorkDir(workDir: string): void {
  const problem = unbuildablePath(workDir);
  if (problem) {
    throw new CpyError('CPY_BUILD_WORK_DIR_UNUSABLE', `cannot build in ${workDir}: ${problem}`, {
      hint: 'give a work directory whose path has no spaces, quotes, backslashes, $ or backquotes (cpy build --work-dir <dir>; the default is under CPY_CACHE_DIR)',
    });
  }
}

/**
 * Runs `work` holding the lock of the build directory of `spec` under `workDir`; a work directory
 * no build can happen in is refused first.
 */
export function withBuildLock<T>(workDir: string, spec: Pick<BuildSpec, 'version' | 'arch' | 'build'>, work: () => Promise<T>): Promise<T> {
  refuseUnbuildableWorkDir(workDir);
  return withLock(BUILD_LOCK, buildDirLockPath(buildDirOf(workDir, spec)), { timeoutMs: 0 }, work);
}

/** The same lock, taken by cpy artifact pack: the holder may be a build or another pack. */
const PACK_LOCK: LockOwner = {
  code: 'CPY_BUILD_BUSY',
  holds: 'build or pack',
  whenHeld: (path) => `wait for it to finish, then pack again; if no cpy is running there, remove ${path}`,
};

/** Runs `work` holding the lock of a build directory (cpy artifact pack: its tree and its scratch directory are the build's). */
export function withBuildDirLock<T>(buildDir: string, work: () => Promise<T>): Promise<T> {
  return withLock(PACK_LOCK, buildDirLockPath(buildDir), { timeoutMs: 0 }, work);
}

export interface BuildResult {
  readonly version: string;
  readonly build: number;
  readonly profile: BuildSpec['profile'];
  readonly prefix: string;
  readonly buildDir: string;
  /** DESTDIR of `make install`: the tree to pack is <stagingDir><prefix>. */
  readonly stagingDir: string;
  readonly installDir: string;
  readonly logs: Readonly<Record<string, string>>;
  readonly configureArgs: readonly string[];
  readonly makeJobs: number;
  readonly compiler: string;
  readonly os: OsInfo;
  /**
   * Where it was built; `spec` as it was asked for (absent in results of builds before packing
   * started the builder again: a container's image is then read from `identity`).
   */
  readonly builder: { readonly kind: string; readonly description: string; readonly identity: string; readonly spec?: BuilderSpec };
  readonly modules: ModuleReport;
  /** What the tree is built for, as `uname -m` names it: the builder's own, or a cross build's target. */
  readonly arch: string;
  /**
   * A cross build (`spec.arch` other than the builder's): the triplets, the native python3 it
   * used, the emulator, and which of the steps that run target code ran.
   */
  readonly cross: (CrossBuild & { readonly checks: readonly CrossCheck[] }) | null;
  /** Packages that provide each shared library the tree needs (soname -> packages), from the builder's package database. */
  readonly runtimePackages: Readonly<Record<string, readonly string[]>>;
  readonly warnings: readonly string[];
  readonly durationsMs: Readonly<Partial<Record<BuildPhase, number>>>;
  readonly source: BuildSource;
  readonly finishedAt: string;
}

/** The file a finished build leaves; written last, so its presence means the build completed. */
export const BUILD_RESULT_FILE = 'build-result.json';

async function countCFiles(dir: string): Promise<number> {
  let n = 0;
  for (const sub of ['Modules', 'Objects', 'Python', 'Parser', 'Programs']) {
    try {
      n += (await readdir(join(dir, sub), { recursive: true })).filter((f) => String(f).endsWith('.c')).length;
    } catch {
      // not there in this release
    }
  }
  return n;
}

function missingDependencies(report: BuildHostReport, where: string, userCc: string | undefined): CpyError {
  const missing = report.checks.filter((c) => c.critical && !c.ok);
  // A compiler named by CC in the caller's environment (CC=clang) is not the builder's to have:
  // "install gcc" would not help.
  const foreignCc = userCc !== undefined && missing.some((c) => c.id === 'cc');
  const named = missing
    .map((c) => (c.id === 'cc' && foreignCc ? `cc (CC=${userCc}, from your environment: ${c.detail})` : c.packages.length ? `${c.id} (${c.packages.join(' ')})` : c.hint ? `${c.id} (${c.detail})` : `${c.id} (${c.what})`))
    .join(', ');
  const details = { missing: missing.map((c) => ({ id: c.id, packages: c.packages, detail: c.detail })) };
  // What no package gives (room for the build, a directory it can write: the check's own hint)
  // is said with its own remedy (the disk's was dropped for "install them", or apt-get tk-dev).
  // (Each once: a compiler that is not there gives every header check the same hint. With CC
  // from the environment, what to do about the compiler is said by that advice.)
  const own = missing.filter((c) => c.hint && !(foreignCc && (c.id === 'cc' || c.kind === 'module')));
  const rest = missing.filter((c) => !own.includes(c));
  const ownHints = [...new Set(own.map((c) => c.hint!))].join('; ');
  // Room alone: the disk's, not a dependency.
  if (rest.length === 0 && own.length === 1 && own[0]!.kind === 'disk' && !own[0]!.detail.startsWith('cannot build in')) {
    return new CpyError('CPY_BUILD_DISK_FULL', `the build directory has no room for the build: ${own[0]!.detail}`, { hint: ownHints, details });
  }
  const install = foreignCc
    ? `CC=${userCc} comes from your environment: install that compiler on the builder, or unset CC to build with the builder's own cc${report.fix ? `; then: ${report.fix.command}` : ''}`
    : report.fix
      ? `install them on the builder: ${report.fix.command}`
      : 'install the libraries named above with the system package manager';
  return new CpyError('CPY_BUILD_MISSING_DEPENDENCIES', `the builder (${where}) lacks what the build needs: ${named}`, {
    hint: rest.length === 0 ? ownHints : own.length ? `${install}; and ${ownHints}` : install,
    details,
  });
}

/**
 * Python's own variables, emptied (an empty one counts as unset) for what the build runs: `make
 * install` runs ensurepip with the new python3, and ensurepip runs pip in a python3 of its own
 * without -E, which would take PYTHONPATH and PYTHONHOME from cpy's environment and read the
 * user's site-packages; a pip found in any of them is "already satisfied", and none is installed
 * into the artifact. The import check, too, is of the tree alone.
 */
const PYTHON_ISOLATED: Readonly<Record<string, string>> = { PYTHONPATH: '', PYTHONHOME: '', PYTHONNOUSERSITE: '1' };

/**
 * Prints each pip the new python3 would find installed at the build's prefix: its sys.prefix is
 * that one, so a pip there (this version installed at /opt/python-<version>, where `cpy install`
 * puts it for root) makes ensurepip install none into the staging tree, and the artifact would
 * have no pip. $1: that python3's site-packages.
 */
const PIP_AT_PREFIX_SCRIPT = 'for d in "$1"/pip-*.dist-info "$1"/pip-*.egg-info; do [ -e "$d" ] && printf "%s\\n" "$d"; done; exit 0';

/** The new python3's site-packages at the prefix: lib/python3.X, or lib/python3.Xt for a free-threaded build. */
function prefixSitePackages(spec: BuildSpec): string {
  const threaded = spec.configureArgs.includes('--disable-gil') ? 't' : '';
  return `${spec.prefix}/lib/python${parseVersion(spec.version)!.line}${threaded}/site-packages`;
}

/** The pips found; none when the builder could not be asked (then a warning says so). */
async function pipAtPrefix(builder: Builder, spec: BuildSpec, warnings: string[]): Promise<string[]> {
  const r = await builder.exec('sh', ['-c', PIP_AT_PREFIX_SCRIPT, 'pip-at-prefix', prefixSitePackages(spec)]);
  if (r.exitCode !== 0) {
    warnings.push(`could not check ${spec.prefix} on the builder for a pip that would keep pip out of the artifact (exit ${r.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n')[0]}` : ''})`);
    return [];
  }
  return r.stdout.split('\n').filter(Boolean);
}

function prefixHasPip(spec: BuildSpec, found: readonly string[], builder: Builder): CpyError {
  const where = builder.kind === 'host' ? 'this host' : `the builder (${builder.description})`;
  const hint = {
    host: `build in a container (cpy build ${spec.version} --builder container --image <a Debian or Ubuntu image, e.g. localhost/debian-minbase:bookworm>), or move ${spec.prefix} aside for the build (cpy uninstall ${spec.version}, if cpy installed it)`,
    container: `use an image without ${spec.prefix}, or build with another --prefix`,
    vagrant: `remove ${spec.prefix} in the VM (vagrant ssh), or build with another --prefix`,
  }[builder.kind];
  return new CpyError('CPY_BUILD_PREFIX_HAS_PIP', `${spec.prefix}, the build's prefix, already holds a Python with pip on ${where} (${found[0]}): CPython's make install would find that pip, install none into the artifact, and the artifact would have no pip`, {
    hint,
    details: { prefix: spec.prefix, found },
  });
}

/**
 * Asks the builder's package database which package ships each library: one
 * `dpkg -S` for all of them (each call reads every package's file list), or
 * rpm / apk per library. Prints `<soname> <package>` lines.
 */
const OWNER_SCRIPT = `
if command -v dpkg >/dev/null 2>&1; then
  for so in "$@"; do set -- "$@" "*/$so"; shift; done
  dpkg -S "$@" 2>/dev/null | awk -F': ' '{ n = split($2, p, "/"); split($1, q, /[:,]/); print p[n], q[1] }'
  exit 0
fi
for so in "$@"; do
  pkg=""
  if command -v rpm >/dev/null 2>&1; then p=$(ldconfig -p | awk -v s="$so" '$1==s {print $NF; exit}'); [ -n "$p" ] && pkg=$(rpm -qf --qf '%{NAME}' "$p" 2>/dev/null)
  elif command -v apk >/dev/null 2>&1; then pkg=$(apk info -q --who-owns "/usr/lib/$so" "/lib/$so" 2>/dev/null | head -n1 | awk '{print $NF}')
  fi
  printf '%s %s\\n' "$so" "$pkg"
done`;

/** Import results as make's end-of-build report implies them, for a cross build nothing can run. */
function importsFromMake(made: CPythonModuleSummary): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const m of MODULE_CHECKS) {
    const unbuilt = new Set([...made.notFound, ...made.failedToBuild, ...made.failedToImport]);
    const bad = m.imports.find((name) => m.extensions.includes(name) && unbuilt.has(name));
    out[m.id] = bad ? `${bad}: not built (make's module report)` : null;
  }
  return out;
}

async function packagesOnBuilder(builder: Builder, sonames: readonly string[]): Promise<Record<string, string[]>> {
  if (!sonames.length) return {};
  const r = await builder.exec('sh', ['-c', OWNER_SCRIPT, 'owners', ...sonames]);
  const out: Record<string, string[]> = Object.fromEntries(sonames.map((so) => [so, [] as string[]]));
  for (const line of r.stdout.split('\n')) {
    const [so, pkg] = line.trim().split(/\s+/);
    // dpkg also lists the dev symlinks (libssl.so) and other copies: keep exact sonames, first owner.
    if (so && pkg && out[so]?.length === 0) out[so] = [pkg];
  }
  return out;
}

/**
 * A build for `arch` on a builder of another architecture is a cross build, which cpy runs only in
 * a container it provisions: the refusal, with the command that does it. cpy build says it before
 * anything is fetched for this host (its architecture is known), and buildCPython once it has
 * asked the builder (a VM's).
 */
export function crossNeedsContainer(version: string, arch: string, builderArch: string, where: 'host' | 'VM'): CpyError {
  return new CpyError('CPY_BUILD_CROSS_NEEDS_CONTAINER', `a build for ${arch} on this ${builderArch} ${where} is a cross build, which cpy runs in a container it provisions`, {
    hint: `cpy build ${version} --arch ${arch} --builder container --image <a Debian or Ubuntu image, e.g. localhost/debian-minbase:bookworm>`,
  });
}

/**
 * The preflight of a build on `builder` (its checkBuildHost report): a system that cannot name
 * an artifact, what the builder lacks, a pip at the build's prefix, each refused; the optional
 * modules missing go into `warnings`.
 */
async function preflight(builder: Builder, spec: BuildSpec, options: { exec: Exec; buildDir: string; cc: string; warnings: string[]; minFreeBytes?: number }): Promise<BuildHostReport> {
  const report = await checkBuildHost({
    exec: options.exec,
    buildDir: options.buildDir,
    cc: options.cc,
    // Headers found where configure will look: CPPFLAGS and CFLAGS (-I/usr/include/openssl11).
    cppflags: [spec.env.CPPFLAGS, spec.env.CFLAGS].filter(Boolean).join(' '),
    ...(options.minFreeBytes !== undefined ? { minFreeBytes: options.minFreeBytes } : {}),
  });
  // An artifact is named and matched by its distribution's version: a builder without one
  // (Debian testing, a rolling distribution) was refused only when packing, after the build.
  const unnamed = osNamingProblem(report.os);
  if (unnamed) throw new CpyError('CPY_BUILD_UNKNOWN_OS', `the builder (${builder.description}: ${report.os.prettyName}) ${unnamed.what}`, { hint: unnamed.hint });
  if (!report.ok) throw missingDependencies(report, builder.description, spec.env.CC);
  const pips = await pipAtPrefix(builder, spec, options.warnings);
  if (pips.length) throw prefixHasPip(spec, pips, builder);
  for (const c of report.checks) if (!c.critical && !c.ok) options.warnings.push(`optional ${c.id} is missing on the builder${c.packages.length ? ` (${c.packages.join(' ')})` : ''}: ${c.detail}`);
  return report;
}

/**
 * A build on this host checked before its source is fetched (cpy build): the preflight the build
 * runs again once the source is here. A missing header, no room or a pip at the prefix was said
 * after the download. (A container or VM is checked once started, which the build does.)
 */
export async function preflightHost(spec: BuildSpec, workDir: string, options: { minFreeBytes?: number } = {}): Promise<void> {
  const builder = hostBuilder();
  const buildDir = buildDirOf(workDir, spec);
  // A build of that directory again: its trees, deleted before the build checks its room, hold
  // part of what it needs (the room is the build's own check then, the directory still refused).
  const again = existsSync(buildDir) ? { minFreeBytes: 0 } : {};
  await preflight(builder, spec, { exec: builder.exec, buildDir, cc: spec.env.CC ?? 'cc', warnings: [], ...options, ...again });
}

/**
 * Builds CPython from a verified source tarball on a builder: preflight (the
 * same checks as `cpy doctor`), extract, configure, make, make install into a
 * staging directory, then a check that every critical module imports from
 * the installed tree. Output goes to log files in <buildDir>/logs. Starts from
 * a clean source and staging tree every time; `build-result.json` is written
 * only when everything passed.
 */
export async function buildCPython(options: BuildOptions): Promise<BuildResult> {
  if (!options.locked) return withBuildLock(options.workDir, options.spec, () => buildCPython({ ...options, locked: true }));
  const { spec, source, signal } = options;
  const buildDir = buildDirOf(options.workDir, spec);
  const srcDir = join(buildDir, 'src');
  const stagingDir = join(buildDir, 'staging');
  const logsDir = join(buildDir, 'logs');
  const installDir = join(stagingDir, spec.prefix);
  const logs: Record<string, string> = {};
  const durationsMs: Partial<Record<BuildPhase, number>> = {};
  const warnings: string[] = [];
  const builder = options.builder ?? createBuilder(spec.builder);
  const ownBuilder = !options.builder;

  const phase = async <T>(name: BuildPhase, logged: boolean, work: (logFile: string) => Promise<T>): Promise<T> => {
    if (signal?.aborted) throw cancelled();
    const logFile = join(logsDir, `${name}.log`);
    if (logged) logs[name] = logFile;
    options.onEvent?.({ type: 'phase', phase: name, logFile: logged ? logFile : null });
    const started = Date.now();
    const result = await work(logFile);
    durationsMs[name] = Date.now() - started;
    options.onEvent?.({ type: 'phase-done', phase: name, elapsedMs: durationsMs[name]! });
    return result;
  };
  const failed = async (code: ErrorCodeOf<'@cpy/build'>, what: string, logFile: string, hint: string) => {
    const last = await logTail(logFile);
    const message = `${what} (log: ${logFile}):\n${last.map((l) => `    ${l}`).join('\n')}`;
    // A full disk fails whichever step is running, whose usual hint would name another cause.
    if (saysDiskFull(last)) return new CpyError('CPY_BUILD_DISK_FULL', message, { hint: `free space where the build is (${buildDir}; a build takes about 3 GiB), or pass --work-dir on a larger disk, then build again`, details: { logFile } });
    return new CpyError(code, message, { hint, details: { logFile } });
  };

  await rm(join(buildDir, BUILD_RESULT_FILE), { force: true });
  await rm(srcDir, { recursive: true, force: true });
  await rm(stagingDir, { recursive: true, force: true });
  await rm(logsDir, { recursive: true, force: true });
  await mkdir(srcDir, { recursive: true });
  await mkdir(logsDir, { recursive: true });

  try {
    await phase('provision', spec.builder.kind !== 'host', (log) => builder.start(buildDir, log, signal, spec.arch ? { targetArch: spec.arch } : {}));
    const builderArch = (await builder.exec('uname', ['-m'])).stdout.trim() || 'unknown';
    const arch = spec.arch ?? builderArch;
    let cross: CrossBuild | null = null;
    if (arch !== builderArch) {
      if (builder.kind !== 'container') throw crossNeedsContainer(spec.version, arch, builderArch, builder.kind === 'host' ? 'host' : 'VM');
      const emulator = emulatorFor(arch);
      cross = {
        arch,
        build: gnuTriplet(builderArch),
        host: gnuTriplet(arch),
        buildPython: join(buildDir, 'build-python', 'python'),
        emulator: (await hasEmulator(builder.exec, emulator.program)) ? emulator : null,
      };
      if (!cross.emulator) warnings.push(`${emulator.program} is not on the builder: the ${arch} python3 was not run (module check skipped; validation needs an ${arch} host)`);
    }
    const cc = spec.env.CC ?? (cross ? `${cross.host}-gcc` : 'cc');

    const host = await phase('preflight', false, () =>
      preflight(builder, spec, {
        // A cross build's pkg-config probes read the target's .pc files, as its configure does.
        exec: cross ? (file, args, o = {}) => builder.exec(file, args, { ...o, env: { ...crossEnvironment(cross.host), ...o.env } }) : builder.exec,
        buildDir,
        cc,
        warnings,
        ...(options.minFreeBytes !== undefined ? { minFreeBytes: options.minFreeBytes } : {}),
      }),
    );

    await phase('extract', true, async (log) => {
      const copy = join(buildDir, source.fileName);
      await copyFile(source.path, copy);
      const r = await builder.run(['tar', '-xf', copy, '-C', srcDir, '--strip-components=1', '--no-same-owner'], { logFile: log, ...(signal ? { signal } : {}) });
      await rm(copy, { force: true });
      if (r.exitCode !== 0) throw await failed('CPY_BUILD_EXTRACT_FAILED', `unpacking ${source.fileName} failed`, log, 'the tarball is verified, so check free disk and that tar and xz work on the builder');
      // Its signature says who made these bytes, not which release they are: a mirror can serve
      // another release the same manager signed under this name. The tree says which it is.
      const says = await sourceTreeVersion(srcDir);
      if (says !== null && says !== spec.version) throw sourceVersionMismatch(source.fileName, spec.version, says, 'its Include/patchlevel.h');
      // Room after the prefix compiled into python3.X and libpython, for the relocation to write the install prefix.
      const room = await makeRoomForPrefix(srcDir);
      await appendFile(log, room ? 'cpy: Makefile.pre.in: a prefix slot after -DPREFIX and -DEXEC_PREFIX (relocation writes the install prefix there)\n' : 'cpy: Makefile.pre.in has no -DPREFIX define cpy knows: the compiled-in prefix stays the build prefix\n');
    });

    const env: Record<string, string> = {
      ...PYTHON_ISOLATED,
      ...(cross ? crossEnvironment(cross.host) : {}),
      // (CC and the flags are configure's arguments: configureArguments.)
      ...(Object.fromEntries(Object.entries(spec.env).filter(([k, v]) => !CONFIGURE_VARIABLES.has(k) && v !== undefined)) as Record<string, string>),
    };
    const configureArgs = [...(cross ? crossConfigureArguments(cross) : []), ...configureArguments(spec)];
    const cpus = Number((await builder.exec('nproc', [])).stdout.trim()) || availableParallelism();
    const jobs = makeJobs(spec, cpus);

    if (cross) {
      const buildPython = cross.buildPython;
      await phase('build-python', true, async (log) => {
        // A native python3 of the same version, built out of tree from the same source (configure's
        // default options, no optimisation): kept in the build directory and reused by the next build.
        // Its prefix is the target's: `make install` runs ensurepip with it, and pip installs under
        // the running interpreter's sys.prefix (/usr/local by default, outside the tree).
        const wanted = `${spec.version} ${spec.prefix}`;
        const have = await builder.exec(buildPython, ['-c', 'import platform, sys; print(platform.python_version(), sys.prefix)']);
        if (have.exitCode === 0 && have.stdout.trim() === wanted) {
          await writeFile(log, `reusing ${buildPython} (Python ${spec.version}, prefix ${spec.prefix})\n`);
          return;
        }
        const dir = join(buildDir, 'build-python');
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        const opts = { cwd: dir, logFile: log, ...(signal ? { signal } : {}) };
        let r = await builder.run([join(srcDir, 'configure'), `--prefix=${spec.prefix}`], opts);
        if (r.exitCode === 0) r = await builder.run(['make', `-j${jobs}`], opts);
        if (r.exitCode !== 0) {
          throw await failed('CPY_BUILD_PYTHON_FOR_BUILD_FAILED', `the native python3 a cross build needs (--with-build-python) did not build (exit ${r.exitCode})`, log, 'read the log; the builder needs its own C compiler and zlib1g-dev (provision-builder.sh installs them)');
        }
      });
    }

    await phase('configure', true, async (log) => {
      const r = await builder.run(['./configure', ...configureArgs], { cwd: srcDir, env, logFile: log, ...(signal ? { signal } : {}) });
      if (r.exitCode !== 0) throw await failed('CPY_BUILD_CONFIGURE_FAILED', `./configure failed (exit ${r.exitCode})`, log, `read the log, and ${srcDir}/config.log for the failing test`);
    });

    // About 85% of the .c files under these directories are compiled on Linux (3.13: 349 of 414).
    const totalC = await countCFiles(srcDir);
    await phase('make', true, async (log) => {
      const started = Date.now();
      let compiled = 0;
      let last = 0;
      // A compiler launcher (CC="ccache gcc") compiles here only: configure recorded the compiler alone.
      const r = await builder.run(['make', `-j${jobs}`, STATIC_INTERPRETER, ...launchedCompilers(spec)], {
        cwd: srcDir,
        env,
        logFile: log,
        ...(signal ? { signal } : {}),
        onLine: (line) => {
          if (/\s-c\s/.test(line) && /\.c(\s|$)/.test(line)) compiled++;
          const now = Date.now();
          if (now - last > 1000) {
            last = now;
            options.onEvent?.({ type: 'progress', phase: 'make', elapsedMs: now - started, ratio: totalC ? Math.min(0.99, compiled / (totalC * 0.85)) : null });
          }
        },
      });
      if (r.exitCode !== 0) throw await failed('CPY_BUILD_MAKE_FAILED', `make failed (exit ${r.exitCode})`, log, 'read the log for the first error; a missing header usually means a missing -dev package');
    });

    await phase('install', true, async (log) => {
      const r = await builder.run(['make', 'install', STATIC_INTERPRETER, `DESTDIR=${stagingDir}`], { cwd: srcDir, env, logFile: log, ...(signal ? { signal } : {}) });
      if (r.exitCode !== 0) throw await failed('CPY_BUILD_INSTALL_FAILED', `make install failed (exit ${r.exitCode})`, log, 'read the log; check free disk');
    });

    const crossChecks: CrossCheck[] = [];
    const modules = await phase('check', true, async (log) => {
      const made = parseMakeModuleReport(await readFile(logs['make']!, 'utf8'));
      const python3 = join(installDir, 'bin', 'python3');
      let imports: Record<string, string | null>;
      if (cross && !cross.emulator) {
        // Nothing of the target's can run here: what make reported is all there is to go by.
        imports = importsFromMake(made);
        await writeFile(log, `no ${emulatorFor(cross.arch).program}: the ${cross.arch} python3 was not run; the modules are judged from make's report\n`);
        crossChecks.push({ id: 'python3-version', ran: false, ok: false, detail: `no emulator (${emulatorFor(cross.arch).program}) on the builder` });
        crossChecks.push({ id: 'critical-imports', ran: false, ok: false, detail: "judged from make's module report only" });
      } else {
        const wrap = cross?.emulator ? [cross.emulator.program, ...cross.emulator.args] : [];
        let json = '';
        let version = '';
        const r = await builder.run([...wrap, python3, '-c', `import sys; print("Python", sys.version.split()[0])\n${IMPORT_CHECK_SCRIPT}`], {
          env: PYTHON_ISOLATED,
          logFile: log,
          ...(signal ? { signal } : {}),
          onLine: (line) => {
            if (line.startsWith('{')) json = line;
            if (line.startsWith('Python ')) version = line.trim();
          },
        });
        if (r.exitCode !== 0 || !json) {
          throw await failed('CPY_BUILD_PYTHON_BROKEN', `the installed python3 does not run${wrap.length ? ` under ${wrap.join(' ')}` : ''}`, log, 'read the log and the make log');
        }
        imports = JSON.parse(json) as Record<string, string | null>;
        // The built interpreter's own word, for a tree that does not say (or says it wrongly).
        if (version && version !== `Python ${spec.version}`) throw sourceVersionMismatch(source.fileName, spec.version, version.replace(/^Python /, ''), 'the python3 built from it');
        if (cross?.emulator) {
          const under = `under ${[cross.emulator.program, ...cross.emulator.args].join(' ')}`;
          crossChecks.push({ id: 'python3-version', ran: true, ok: version === `Python ${spec.version}`, detail: `${version || 'no version printed'} ${under}` });
        }
      }
      const report = moduleReport(imports, made, host.os.family);
      if (cross?.emulator) {
        const under = `under ${[cross.emulator.program, ...cross.emulator.args].join(' ')}`;
        const bad = report.missing.filter((m) => m.critical).map((m) => m.id);
        crossChecks.push({ id: 'critical-imports', ran: true, ok: bad.length === 0, detail: bad.length ? `${bad.join(', ')} do not import ${under}` : `${report.present.join(' ')} import ${under}` });
      }
      const critical = report.missing.filter((m) => m.critical);
      if (critical.length) {
        const named = critical.map((m) => `${m.id}${m.packages.length ? ` (needs ${m.packages.join(' ')})` : ''}: ${m.error}`).join('; ');
        // The preflight found what they build from (else it had refused): the packages are there,
        // and why the module was not built is in make's log (its "Failed to build these modules")
        // and config.log. (It said to install the packages named, which were installed.)
        const said = made.failedToBuild.length ? `; make failed to build ${made.failedToBuild.join(' ')}` : '';
        throw new CpyError('CPY_BUILD_CRITICAL_MODULE_MISSING', `critical modules are missing from the build: ${named}${said} (log: ${logs['make']})`, {
          hint: `the builder has what they build from (the preflight found it): read why in ${logs['make']} and ${srcDir}/config.log; a --configure-arg, CFLAGS, CPPFLAGS or LDFLAGS may point the build at other libraries`,
          details: { missing: critical, logFile: logs['make'] },
        });
      }
      for (const m of report.missing) warnings.push(`optional module ${m.id} is missing${m.packages.length ? ` (needs ${m.packages.join(' ')})` : ''}`);
      return report;
    });

    const runtimePackages = await packagesOnBuilder(builder, [...externalNeeds(await scanTree(installDir)).keys()]);
    // The compiler itself (CC="ccache gcc -m64": gcc -m64 --version).
    const [program, ...ccArgs] = splitCompiler(cc).compiler.split(' ');
    const compiler = await builder.exec(program!, [...ccArgs, '--version']);
    const result: BuildResult = {
      version: spec.version,
      build: spec.build,
      profile: spec.profile,
      prefix: spec.prefix,
      buildDir,
      stagingDir,
      installDir,
      logs,
      configureArgs,
      makeJobs: jobs,
      compiler: compiler.stdout.split('\n')[0]?.trim() ?? 'unknown',
      os: host.os,
      builder: { kind: builder.kind, description: builder.description, identity: await builder.identity(), spec: spec.builder },
      modules,
      arch,
      cross: cross ? { ...cross, checks: crossChecks } : null,
      runtimePackages,
      warnings,
      durationsMs,
      source,
      finishedAt: new Date().toISOString(),
    };
    // Written last, whole or not at all: its presence says the build finished.
    await writeFileAtomic(join(buildDir, BUILD_RESULT_FILE), JSON.stringify(result, null, 2) + '\n');
    return result;
  } catch (error) {
    if (signal?.aborted) {
      await rm(stagingDir, { recursive: true, force: true });
      throw cancelled();
    }
    throw error;
  } finally {
    if (ownBuilder) await builder.stop();
  }
}

/** The version a CPython source tree says it is (Include/patchlevel.h's PY_VERSION); null when it cannot be read from here. */
async function sourceTreeVersion(srcDir: string): Promise<string | null> {
  const text = await readFile(join(srcDir, 'Include', 'patchlevel.h'), 'utf8').catch(() => null);
  return text === null ? null : (/^#define\s+PY_VERSION\s+"([^"]+)"/m.exec(text)?.[1] ?? null);
}

function sourceVersionMismatch(fileName: string, wanted: string, found: string, where: string): CpyError {
  return new CpyError('CPY_BUILD_SOURCE_VERSION_MISMATCH', `${fileName} holds CPython ${found}, not ${wanted} (${where} says so)`, {
    hint: `a mirror served another release under this name, signed by the same release manager: fetch it again from python.org (cpy source fetch ${wanted} --refresh), or fix the mirror`,
    details: { wanted, found },
  });
}
