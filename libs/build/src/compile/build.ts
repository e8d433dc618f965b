import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { CpyError, externalNeeds, scanTree } from '@cpy/artifact';
import { checkBuildHost, type BuildHostReport } from '../doctor.js';
import type { OsInfo } from '../os-release.js';
import { createBuilder, type Builder } from './builders.js';
import { IMPORT_CHECK_SCRIPT, moduleReport, parseMakeModuleReport, type ModuleReport } from './modules.js';
import { cancelled } from './runner.js';
import { configureArguments, makeJobs, STATIC_INTERPRETER, type BuildSpec } from './spec.js';

export type BuildPhase = 'provision' | 'preflight' | 'extract' | 'configure' | 'make' | 'install' | 'check';

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
  readonly builder: { readonly kind: string; readonly description: string; readonly identity: string };
  readonly modules: ModuleReport;
  /** `uname -m` on the builder. */
  readonly arch: string;
  /** Packages that provide each shared library the tree needs (soname -> packages), from the builder's package database. */
  readonly runtimePackages: Readonly<Record<string, readonly string[]>>;
  readonly warnings: readonly string[];
  readonly durationsMs: Readonly<Partial<Record<BuildPhase, number>>>;
  readonly source: BuildSource;
  readonly finishedAt: string;
}

/** The file a finished build leaves; written last, so its presence means the build completed. */
export const BUILD_RESULT_FILE = 'build-result.json';

async function tail(file: string, lines = 15): Promise<string[]> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines);
  } catch {
    return [];
  }
}

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

function missingDependencies(report: BuildHostReport, where: string): CpyError {
  const missing = report.checks.filter((c) => c.critical && !c.ok);
  const named = missing.map((c) => (c.packages.length ? `${c.id} (${c.packages.join(' ')})` : `${c.id} (${c.what})`)).join(', ');
  return new CpyError('CPY_BUILD_MISSING_DEPENDENCIES', `the builder (${where}) lacks what the build needs: ${named}`, {
    hint: report.fix ? `install them on the builder: ${report.fix.command}` : 'install the libraries named above with the system package manager',
    details: { missing: missing.map((c) => ({ id: c.id, packages: c.packages, detail: c.detail })) },
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
 * Builds CPython from a verified source tarball on a builder: preflight (the
 * same checks as `cpy doctor`), extract, configure, make, make install into a
 * staging directory, then a check that every critical module imports from
 * the installed tree. Output goes to log files in <buildDir>/logs. Starts from
 * a clean source and staging tree every time; `build-result.json` is written
 * only when everything passed.
 */
export async function buildCPython(options: BuildOptions): Promise<BuildResult> {
  const { spec, source, signal } = options;
  const buildDir = join(options.workDir, `cpython-${spec.version}-build${spec.build}`);
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
  const failed = async (code: string, what: string, logFile: string, hint: string) =>
    new CpyError(code, `${what} (log: ${logFile}):\n${(await tail(logFile)).map((l) => `    ${l}`).join('\n')}`, {
      hint,
      details: { logFile },
    });

  await rm(join(buildDir, BUILD_RESULT_FILE), { force: true });
  await rm(srcDir, { recursive: true, force: true });
  await rm(stagingDir, { recursive: true, force: true });
  await rm(logsDir, { recursive: true, force: true });
  await mkdir(srcDir, { recursive: true });
  await mkdir(logsDir, { recursive: true });

  try {
    await phase('provision', spec.builder.kind !== 'host', (log) => builder.start(buildDir, log, signal));

    const host = await phase('preflight', false, async () => {
      const report = await checkBuildHost({
        exec: builder.exec,
        buildDir,
        cc: spec.env.CC ?? 'cc',
        ...(options.minFreeBytes !== undefined ? { minFreeBytes: options.minFreeBytes } : {}),
      });
      if (!report.ok) throw missingDependencies(report, builder.description);
      for (const c of report.checks) if (!c.critical && !c.ok) warnings.push(`optional ${c.id} is missing on the builder${c.packages.length ? ` (${c.packages.join(' ')})` : ''}: ${c.detail}`);
      return report;
    });

    await phase('extract', true, async (log) => {
      const copy = join(buildDir, source.fileName);
      await copyFile(source.path, copy);
      const r = await builder.run(['tar', '-xf', copy, '-C', srcDir, '--strip-components=1', '--no-same-owner'], { logFile: log, ...(signal ? { signal } : {}) });
      await rm(copy, { force: true });
      if (r.exitCode !== 0) throw await failed('CPY_BUILD_EXTRACT_FAILED', `unpacking ${source.fileName} failed`, log, 'the tarball is verified, so check free disk and that tar and xz work on the builder');
    });

    const env: Record<string, string> = Object.fromEntries(Object.entries(spec.env).filter(([k, v]) => k !== 'LDFLAGS' && v !== undefined)) as Record<string, string>;
    const configureArgs = configureArguments(spec);
    await phase('configure', true, async (log) => {
      const r = await builder.run(['./configure', ...configureArgs], { cwd: srcDir, env, logFile: log, ...(signal ? { signal } : {}) });
      if (r.exitCode !== 0) throw await failed('CPY_BUILD_CONFIGURE_FAILED', `./configure failed (exit ${r.exitCode})`, log, `read the log, and ${srcDir}/config.log for the failing test`);
    });

    const cpus = Number((await builder.exec('nproc', [])).stdout.trim()) || availableParallelism();
    const jobs = makeJobs(spec, cpus);
    // About 85% of the .c files under these directories are compiled on Linux (3.13: 349 of 414).
    const totalC = await countCFiles(srcDir);
    await phase('make', true, async (log) => {
      const started = Date.now();
      let compiled = 0;
      let last = 0;
      const r = await builder.run(['make', `-j${jobs}`, STATIC_INTERPRETER], {
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

    const modules = await phase('check', true, async (log) => {
      let json = '';
      const r = await builder.run([join(installDir, 'bin', 'python3'), '-c', IMPORT_CHECK_SCRIPT], {
        logFile: log,
        ...(signal ? { signal } : {}),
        onLine: (line) => {
          if (line.startsWith('{')) json = line;
        },
      });
      if (r.exitCode !== 0 || !json) throw await failed('CPY_BUILD_PYTHON_BROKEN', 'the installed python3 does not run', log, 'read the log and the make log');
      const report = moduleReport(JSON.parse(json) as Record<string, string | null>, parseMakeModuleReport(await readFile(logs['make']!, 'utf8')), host.os.family);
      const critical = report.missing.filter((m) => m.critical);
      if (critical.length) {
        const named = critical.map((m) => `${m.id}${m.packages.length ? ` (needs ${m.packages.join(' ')})` : ''}: ${m.error}`).join('; ');
        throw new CpyError('CPY_BUILD_CRITICAL_MODULE_MISSING', `critical modules are missing from the build: ${named}`, {
          hint: 'install the packages named on the builder and build again (cpy doctor lists them)',
          details: { missing: critical },
        });
      }
      for (const m of report.missing) warnings.push(`optional module ${m.id} is missing${m.packages.length ? ` (needs ${m.packages.join(' ')})` : ''}`);
      return report;
    });

    const runtimePackages = await packagesOnBuilder(builder, [...externalNeeds(await scanTree(installDir)).keys()]);
    const arch = (await builder.exec('uname', ['-m'])).stdout.trim() || 'unknown';
    const cc = await builder.exec(spec.env.CC ?? 'cc', ['--version']);
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
      compiler: cc.stdout.split('\n')[0]?.trim() ?? 'unknown',
      os: host.os,
      builder: { kind: builder.kind, description: builder.description, identity: await builder.identity() },
      modules,
      arch,
      runtimePackages,
      warnings,
      durationsMs,
      source,
      finishedAt: new Date().toISOString(),
    };
    await writeFile(join(buildDir, BUILD_RESULT_FILE), JSON.stringify(result, null, 2) + '\n');
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
