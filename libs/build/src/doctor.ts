import { access, constants, stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { hostExec, type Exec } from './exec.js';
import { osNamingProblem, parseOsRelease, type OsInfo } from './os-release.js';
import { BUILD_REQUIREMENTS, type Probe, type Requirement } from './requirements.js';

export interface CheckResult {
  readonly id: string;
  readonly kind: 'tool' | 'module' | 'disk' | 'os';
  readonly critical: boolean;
  readonly ok: boolean;
  /** What was found, or why the check failed (first line of the compiler's complaint...). */
  readonly detail: string;
  /** The packages that provide it on this system's family; empty when unknown. */
  readonly packages: readonly string[];
  /** What it is, in words that work on any system. */
  readonly what: string;
  /** What to do when it fails and installing its packages is not the answer (the build directory; a --cc that names no program). */
  readonly hint?: string;
}

export interface BuildHostReport {
  /** True when nothing critical is missing. */
  readonly ok: boolean;
  readonly os: OsInfo;
  readonly checks: readonly CheckResult[];
  /** Ids of missing critical requirements (then optional ones). */
  readonly missing: { readonly critical: readonly string[]; readonly optional: readonly string[] };
  /**
   * What to install to fix everything missing, when cpy knows this system's
   * package names: `apt-get install -y ...`. Null when nothing is missing or the
   * system is unknown (then each check's `what` says which library is missing).
   */
  readonly fix: { readonly packages: readonly string[]; readonly command: string } | null;
}

export interface CheckBuildHostOptions {
  /** Runs programs on the builder; defaults to this host. */
  readonly exec?: Exec;
  /** The directory the build will use (made when missing); its filesystem needs `minFreeBytes`, and this user must be able to write there. Default: the cwd. */
  readonly buildDir?: string;
  /** Default 3 GiB: a source tree, its objects, the install tree and the artifact. */
  readonly minFreeBytes?: number;
  /** Free bytes at `buildDir`; defaults to statfs on this host. */
  readonly freeBytes?: (dir: string) => Promise<number>;
  /** The C compiler to probe with (the build's CC, which may carry words: `ccache gcc`); default `cc`. */
  readonly cc?: string;
  /** Flags the header probes pass to the preprocessor, as configure does: the build's CPPFLAGS and CFLAGS (`-I/usr/include/openssl11`). */
  readonly cppflags?: string;
}

export const DEFAULT_MIN_FREE_BYTES = 3 * 1024 ** 3;

const INSTALL_COMMAND: Record<Exclude<OsInfo['family'], 'unknown'>, string> = {
  debian: 'apt-get install -y',
  rhel: 'dnf install -y',
  alpine: 'apk add',
};

const CHOOSE_DIR = 'cpy build --work-dir <dir>; check it with cpy doctor --dir <dir>';

/**
 * What CPython's Makefile cannot build under: a space (`make install DESTDIR=<build dir>/staging`
 * splits its paths there: "install: target 'ace/staging/...': No such file or directory"), a
 * quote, a backslash, `$` or a backquote (make's and the shell's). The prefix is held to the same.
 */
const UNBUILDABLE = /[\s'"\\$`]/;

/** Why no build can happen under `path` (its characters), or null. */
export function unbuildablePath(path: string): string | null {
  const bad = UNBUILDABLE.exec(path)?.[0];
  if (bad === undefined) return null;
  return `its path has ${/\s/.test(bad) ? 'a space' : `a ${bad}`}, which CPython's Makefile does not quote: its make install would fail there, after the whole build`;
}

/** Why a build directory cannot be used, and what to do instead. */
class BuildDirProblem extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/**
 * Free bytes where the build directory is, or will be made: its nearest existing directory (a
 * build makes the rest). Refuses one this user cannot write, where the build could not start.
 */
async function hostFreeBytes(dir: string): Promise<number> {
  let at = dir;
  for (;;) {
    const s = await statfs(at).catch((error: NodeJS.ErrnoException) => {
      if ((error.code !== 'ENOENT' && error.code !== 'ENOTDIR') || dirname(at) === at) throw error;
      return null;
    });
    if (s) {
      // A file there (or on the way): no build directory can be made.
      if (!(await stat(at)).isDirectory()) {
        throw new BuildDirProblem(`${at} is a file, not a directory`, at === dir ? `name a directory, not a file (${CHOOSE_DIR})` : `move ${at} aside, or build in another directory (${CHOOSE_DIR})`);
      }
      await access(at, constants.W_OK).catch(() => {
        throw new BuildDirProblem(`${at} is not writable by this user`, `build in a directory this user can write (${CHOOSE_DIR})`);
      });
      return s.bavail * s.bsize;
    }
    at = dirname(at);
  }
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? ''
  );
}

/** A command line of words (CC="ccache gcc", CPPFLAGS="-I/a -DX"), split as configure's shell splits an unquoted variable. */
const words = (text: string): string[] => text.trim().split(/\s+/).filter(Boolean);

/** A probe's answer; `noCompiler`: a header check the compiler could not be run for. */
async function runProbe(exec: Exec, probe: Probe, cc: string, cppflags: string): Promise<{ ok: boolean; detail: string; noCompiler?: true }> {
  const [ccProgram = 'cc', ...ccArgs] = words(cc);
  switch (probe.kind) {
    case 'program': {
      const [program = probe.program, ...args] = probe.program === cc ? [ccProgram, ...ccArgs] : [probe.program];
      const r = await exec(program, [...args, '--version']);
      return r.exitCode === 0
        ? { ok: true, detail: firstLine(r.stdout) || firstLine(r.stderr) || 'found' }
        : { ok: false, detail: r.exitCode === 127 ? `${probe.program} not found` : firstLine(r.stderr) };
    }
    case 'headers': {
      const r = await exec(ccProgram, [...ccArgs, ...words(cppflags), '-E', '-x', 'c', '-o', '/dev/null', '-'], { input: probe.source });
      if (r.exitCode === 0) return { ok: true, detail: 'headers found' };
      if (r.exitCode === 127) return { ok: false, detail: `cannot check without a C compiler (${cc} not found)`, noCompiler: true };
      const error = r.stderr.split('\n').find((l) => /error/.test(l)) ?? firstLine(r.stderr);
      return { ok: false, detail: error.replace(/^<stdin>:\d+:\d+:\s*/, '').trim() };
    }
    case 'pkg-config': {
      const r = await exec('pkg-config', ['--modversion', probe.module]);
      if (r.exitCode === 0) return { ok: true, detail: `${probe.module} ${firstLine(r.stdout)}` };
      if (r.exitCode === 127) return { ok: false, detail: 'cannot check without pkg-config' };
      return { ok: false, detail: `pkg-config has no module ${probe.module}` };
    }
  }
}

/** What to do when the compiler named by a path cannot run (its check's hint, and that of every header check it left undone). */
const NAME_A_COMPILER = 'name a C compiler that runs here (--cc or $CC), or set neither to use cc';

async function checkRequirement(exec: Exec, req: Requirement, os: OsInfo, cc: string, cppflags: string): Promise<CheckResult> {
  const probe: Probe = req.id === 'cc' ? { kind: 'program', program: cc } : req.probe;
  const { ok, detail, noCompiler } = await runProbe(exec, probe, cc, cppflags);
  // A compiler named by its path that is not there: installing gcc does not put one at that path.
  const ccProgram = words(cc)[0] ?? cc;
  if (req.id === 'cc' && !ok && ccProgram.includes('/') && detail.endsWith(' not found')) {
    // (127 is also a program whose #! interpreter or ELF loader is missing: a cross compiler's.)
    return { id: req.id, kind: req.kind, critical: req.critical, ok, detail: `cannot run ${ccProgram}: no such program, or its interpreter or loader is missing`, packages: [], what: req.what, hint: NAME_A_COMPILER };
  }
  // What could not be checked (no compiler) keeps its packages in the fix: on a machine without a
  // compiler they are most likely missing too, and one apt-get line then makes the builder complete
  // (doctor-container.spec). Its detail says it was not checked. Not so for a compiler named by a
  // path that is not there (a typing mistake in --cc or $CC): the headers are no more likely missing
  // than with cc, and the fix named every -dev package of the build, installed or not.
  const unchecked = noCompiler === true && ccProgram.includes('/');
  const packages = os.family === 'unknown' || unchecked ? [] : req.packages[os.family];
  return { id: req.id, kind: req.kind, critical: req.critical, ok, detail, packages, what: req.what, ...(unchecked ? { hint: NAME_A_COMPILER } : {}) };
}

function formatBytes(n: number): string {
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}

/**
 * Checks that a builder has what building CPython needs: compiler and tools,
 * the development headers behind the critical modules (ssl, sqlite3, uuid,
 * lzma, bz2, ctypes, zlib, readline) and the optional ones (curses, dbm,
 * tkinter), and free disk. Never throws for a missing requirement: the report
 * says what is missing and which packages provide it.
 */
export async function checkBuildHost(options: CheckBuildHostOptions = {}): Promise<BuildHostReport> {
  const exec = options.exec ?? hostExec;
  const cc = options.cc ?? 'cc';
  const buildDir = options.buildDir ?? process.cwd();
  const minFree = options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES;

  const osText = await exec('cat', ['/etc/os-release']);
  const os = parseOsRelease(osText.exitCode === 0 ? osText.stdout : '');

  const unbuildable = unbuildablePath(buildDir);
  const [checks, disk] = await Promise.all([
    Promise.all(BUILD_REQUIREMENTS.map((req) => checkRequirement(exec, req, os, cc, options.cppflags ?? ''))),
    (unbuildable ? Promise.reject(new BuildDirProblem(unbuildable, `build in a directory whose path has no spaces, quotes, backslashes, $ or backquotes (${CHOOSE_DIR})`)) : (options.freeBytes ?? hostFreeBytes)(buildDir)).then(
      (free): CheckResult => ({
        id: 'disk',
        kind: 'disk',
        critical: true,
        ok: free >= minFree,
        detail: `${formatBytes(free)} free at ${buildDir} (${formatBytes(minFree)} needed)`,
        packages: [],
        what: `${formatBytes(minFree)} of free disk space for the build directory`,
        // Rounded up: 40 MiB short is "free 0.1 GiB", never "free 0.0 GiB".
        ...(free >= minFree ? {} : { hint: `free ${(Math.ceil(((minFree - free) / 1024 ** 3) * 10) / 10).toFixed(1)} GiB there, or build where there is room (${CHOOSE_DIR})` }),
      }),
      (error: unknown): CheckResult => ({
        id: 'disk',
        kind: 'disk',
        critical: true,
        ok: false,
        detail: `cannot build in ${buildDir}: ${(error as Error).message}`,
        packages: [],
        what: 'a build directory this user can write (--dir; cpy build --work-dir)',
        hint: error instanceof BuildDirProblem ? error.hint : `build in a directory this user can write (${CHOOSE_DIR})`,
      }),
    ),
  ]);
  // The artifact is named by the distribution and its version: cpy build refuses one that has
  // none (Debian testing), and this said the host could build.
  const unnamed = osNamingProblem(os);
  const named: CheckResult = {
    id: 'os',
    kind: 'os',
    critical: true,
    ok: !unnamed,
    detail: unnamed ? `${os.prettyName} ${unnamed.what}` : `${os.prettyName}: its artifacts are named ${os.id}${os.versionId}`,
    packages: [],
    what: 'a released distribution that /etc/os-release names (ID) with its version (VERSION_ID)',
    ...(unnamed ? { hint: unnamed.hint } : {}),
  };
  const all = [named, ...checks, disk];
  const missingCritical = all.filter((c) => !c.ok && c.critical);
  const missingOptional = all.filter((c) => !c.ok && !c.critical);
  const packages = [...new Set([...missingCritical, ...missingOptional].flatMap((c) => c.packages))];
  return {
    ok: missingCritical.length === 0,
    os,
    checks: all,
    missing: { critical: missingCritical.map((c) => c.id), optional: missingOptional.map((c) => c.id) },
    fix:
      packages.length > 0 && os.family !== 'unknown'
        ? { packages, command: `${INSTALL_COMMAND[os.family]} ${packages.join(' ')}` }
        : null,
  };
}
