import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { CpyError, isCpyError } from '@cpy/core';
import { CRITICAL_TESTS, requireCompressor, testArtifact, validateArtifact, type PythonRunner, type TestRunResult } from '@cpy/artifact';
import { packBuild, packBuilder, readBuildResult, withBuildDirLock, type Builder, type BuildResult, type PackedBuild, type SourceVerification } from '@cpy/build';
import * as z from 'zod';
import { EXIT, defineCommand, type CommandContext, type CommandResult } from '../command.js';
import { summaryOf } from './table.js';
import { stopOnSignals } from '../signals.js';
import { positiveInt } from '../usage.js';
import { readyDirectory, refuseMissingFile } from '../location.js';
import { FETCH_OPTIONS, fetchForCommand, fetchValues } from './source.js';
import type { Style } from '../io.js';

/** The packing options `cpy build` and `cpy artifact pack` share. */
export const PACK_OPTIONS = {
  out: { type: 'string', short: 'o', valueName: '<dir>', description: 'where the artifact goes (default ./dist/artifacts)' },
  'keep-tests': { type: 'boolean', description: "keep CPython's test suite in the artifact (140 MB more)" },
  'no-strip': { type: 'boolean', description: 'do not strip the binaries' },
  compression: { type: 'string', valueName: '<gzip|zstd>', description: 'gzip (.tgz, the default) or zstd (.tar.zst: smaller; installing needs zstd)' },
  'debug-symbols': { type: 'boolean', description: 'keep the debug symbols as a separate asset, <name>.debug.tgz' },
  'no-tests-asset': { type: 'boolean', description: "do not write CPython's test suite as <name>.tests.tgz (for cpy artifact test)" },
  'no-validate': { type: 'boolean', description: 'skip validating the artifact after packing (it goes into -o unchecked)' },
  'run-tests': { type: 'string', valueName: '<critical|full>', description: "run CPython's own tests on the packed artifact in a relocated prefix and record the result in its metadata" },
} as const;

export const packValues = {
  out: z.string().min(1).optional(),
  'keep-tests': z.boolean().optional(),
  'no-strip': z.boolean().optional(),
  compression: z.enum(['gzip', 'zstd']).optional(),
  'debug-symbols': z.boolean().optional(),
  'no-tests-asset': z.boolean().optional(),
  'no-validate': z.boolean().optional(),
  'run-tests': z.enum(['critical', 'full']).optional(),
};

type PackValues = { [K in keyof typeof packValues]?: z.output<(typeof packValues)[K]> };

/** Where the artifact goes (-o, --out; default ./dist/artifacts). */
const outDirOf = (ctx: CommandContext<unknown>, input: PackValues) => resolve(ctx.io.cwd, input.out ?? join('dist', 'artifacts'));

/**
 * The artifact's directory, made before anything is fetched, built or packed: a file in its way
 * is said then (it was an internal error once the build was done); a directory this user may not
 * write is CPY_CLI_CANNOT_WRITE from the CLI's own mapping.
 */
export async function readyOutDir(ctx: CommandContext<unknown>, input: PackValues): Promise<void> {
  await readyDirectory(outDirOf(ctx, input), 'put the artifact in', '-o, --out');
  await requireCompressor(input.compression ?? 'gzip');
}

/**
 * --run-tests of a cross build (`arch`, said as `named`): python3 starting python3 under user-mode
 * emulation cannot run, so it is refused before anything is fetched or built.
 */
export const crossRunTests = (arch: string, named: string): CpyError =>
  new CpyError('CPY_CLI_USAGE', `--run-tests runs CPython's tests, which start python3 from python3: not possible for a cross build (${named}) under user-mode emulation`, {
    hint: `drop --run-tests, or build natively on an ${arch} host`,
  });

/** Packing options that cannot go together: refused as usage (exit 2) before anything is fetched or built. */
export function packConflicts(values: PackValues, ctx: z.RefinementCtx): void {
  if (values['debug-symbols'] && values['no-strip']) {
    ctx.addIssue({ code: 'custom', path: ['debug-symbols'], message: 'the debug symbols are split off as the binaries are stripped: drop --no-strip or --debug-symbols' });
  }
  if (values['run-tests'] && (values['no-tests-asset'] || values['keep-tests'])) {
    ctx.addIssue({ code: 'custom', path: ['run-tests'], message: '--run-tests needs the tests asset: drop --no-tests-asset and --keep-tests' });
  }
}

export type PackedAndValidated = PackedBuild;

/** Progress lines of a `python -m test` run: the test files as they finish, and the summary. */
function testProgress(ctx: CommandContext<unknown>): (line: string) => void {
  return (line) => {
    if (/^\d+:\d+:\d+ (load avg: [\d.]+ )?\[\s*\d+\/\d+/.test(line) || /^(== Tests result|Total test files|Result:)/.test(line)) ctx.log(`  ${line.trim()}`);
  };
}

/** The packing options that decide what packing runs (and whether on the build's builder). */
const checksOf = (input: PackValues) => ({ validate: !input['no-validate'], ...(input['run-tests'] ? { runTests: input['run-tests'] } : {}) });

/**
 * @cpy/build's packBuild with the command's packing options, its progress on the command's log;
 * its python3 run by `where`: the running builder's `runner` (cpy build), or a `builder` it starts.
 */
export function packForCommand(ctx: CommandContext<unknown>, result: BuildResult, verification: SourceVerification, input: PackValues, where: { runner?: PythonRunner; builder?: Builder | null }, signal?: AbortSignal): Promise<PackedBuild> {
  return packBuild(result, verification, {
    outDir: outDirOf(ctx, input),
    keepTests: Boolean(input['keep-tests']),
    testsAsset: !input['no-tests-asset'],
    strip: !input['no-strip'],
    compression: input.compression ?? 'gzip',
    debugSymbols: Boolean(input['debug-symbols']),
    ...checksOf(input),
    ...where,
    ...(signal ? { signal } : {}),
    onLog: ctx.log,
    onTestLine: testProgress(ctx),
  });
}

/** The lines that describe a packed artifact (and its validation failures). */
export function artifactLines({ packed, validation, tests }: PackedAndValidated, style: Style): string[] {
  const rejected = 'notePath' in packed ? packed : null;
  return [
    `  artifact  ${packed.path} (${(packed.bytes / 1024 ** 2).toFixed(1)} MiB, glibc >= ${packed.metadata.platform.glibcFloor})`,
    ...(rejected
      ? [
          `  ${style.bad('rejected')}  its checks failed: kept apart to look at, not to publish (${basename(rejected.notePath)} says why)`,
          ...(rejected.kept ? [`  kept      ${rejected.kept}: an earlier pack, left as it was`] : []),
        ]
      : []),
    `  sha256    ${packed.sha256}`,
    ...(packed.debugSymbols ? [`  debug     ${packed.debugSymbols.path} (${(packed.debugSymbols.bytes / 1024 ** 2).toFixed(1)} MiB)`] : []),
    ...(packed.tests ? [`  tests     ${packed.tests.path} (${(packed.tests.bytes / 1024 ** 2).toFixed(1)} MiB)`] : []),
    ...(tests ? testLines(tests, style) : []),
    ...(validation ? reportLines(validation.summary, validation.checks.filter((c) => !c.ok), style) : []),
    ...(validation?.skipped.length ? [`  skipped   ${validation.skipped.map((c) => c.id).join(', ')}: ${[...new Set(validation.skipped.map((c) => c.why))].join('; ')}`] : []),
  ];
}

/** The JSON fields and exit code for a packed (and maybe validated) artifact. */
export function artifactOutcome({ packed, validation, tests }: PackedAndValidated, failureHint: string) {
  const testsOk = tests?.ok ?? true;
  const ok = (validation?.ok ?? true) && testsOk;
  const rejected = 'notePath' in packed ? packed : null;
  const apart = (hint: string) => (rejected ? `${hint}. The artifact is kept apart in ${dirname(rejected.path)} to look at; publishing and indexing refuse it` : hint);
  return {
    ok,
    data: {
      artifact: {
        path: packed.path,
        fileName: packed.fileName,
        sha256: packed.sha256,
        bytes: packed.bytes,
        checksumPath: packed.checksumPath,
        metadataPath: packed.metadataPath,
        debugSymbols: packed.debugSymbols,
        tests: packed.tests,
        rejected: rejected ? { note: rejected.notePath, kept: rejected.kept } : null,
      },
      validation: validation ? { ok: validation.ok, summary: validation.summary, checks: validation.checks, skipped: validation.skipped } : null,
      tests: tests ? testData(tests) : null,
      ...(validation && !validation.ok ? { error: { code: 'CPY_ARTIFACT_INVALID', message: validation.summary.split('\n').slice(1).join('; '), hint: apart(failureHint) } } : {}),
      ...((!validation || validation.ok) && tests && !tests.ok ? { error: { ...testsError(tests), hint: apart(testsError(tests).hint) } } : {}),
    },
  };
}

export const artifactPack = defineCommand({
  name: 'artifact pack',
  summary: summaryOf('artifact pack'),
  description:
    'Packs what `cpy build` left in <build-dir> (<work-dir>/cpython-<version>-build<N>, with build-result.json) ' +
    'as `cpy build` does: with other options (zstd, debug symbols, the test suite) or again after a change, ' +
    'without building. The source tarball named in build-result.json is verified again (from the cache, or fetched) ' +
    'and must be the one that was built. An artifact whose checks fail goes to <out>/rejected/ with <name>.rejected ' +
    'saying why (publish and index add refuse it), an earlier artifact of the same name left as it was. ' +
    'A build made in a container or the VM is checked there, where it is meant to run: its image is started ' +
    'again and provisioned for the checks, then removed (the VM is brought up, and left running); --no-validate starts none. ' +
    'Exit 0 when packed and valid, 1 otherwise.',
  options: { ...PACK_OPTIONS, ...FETCH_OPTIONS },
  positionals: [{ name: 'build-dir', required: true, description: 'a finished build: <work-dir>/cpython-<version>-build<N>' }],
  schema: z
    .object({ values: z.object({ ...packValues, ...fetchValues }).superRefine(packConflicts), positionals: z.tuple([z.string().min(1)], { message: 'give one build directory' }) })
    .transform(({ values, positionals }) => ({ buildDir: positionals[0], ...values })),
  examples: ['cpy artifact pack ~/.cache/cpy/builds/cpython-3.13.5-build1 --compression zstd --debug-symbols'],
  async run(ctx) {
    const { input, io, style, json } = ctx;
    // One pack or build of a build directory at a time: its tree, and the scratch directory the
    // checks use inside it, are the build's (two packs deleted each other's stripped copies). Taken
    // before its result is read: a build running there has removed it, and is the cause to name.
    const buildDir = resolve(io.cwd, input.buildDir);
    return withBuildDirLock(buildDir, async () => {
      const result = await readBuildResult(buildDir);
      if (input['run-tests'] && result.cross) throw crossRunTests(result.arch, result.arch);
      await readyOutDir(ctx as CommandContext<unknown>, input);
      // Before the source is fetched: no container engine, an image gone, no vagrant is said at once.
      const builder = packBuilder(result, checksOf(input));
      if (builder) ctx.log(`builder ${await builder.check()}: the build ran there, and its artifact is checked there`);
      const source = await fetchForCommand(ctx as CommandContext<unknown>, result.version, input);
      if (source.sha256 !== result.source.sha256) {
        throw new CpyError('CPY_ARTIFACT_SOURCE_MISMATCH', `the build used ${result.source.fileName} with sha256 ${result.source.sha256}; the verified source now has ${source.sha256}`, {
          hint: 'the release file changed since the build: build again from the verified source',
        });
      }
      ctx.log(`source ${source.fileName} verified again (${source.verification.method})`);
      // Ctrl-C (or SIGTERM) stops the packing where it is; what it wrote goes (a second one exits at once).
      const stop = stopOnSignals({ log: ctx.log, stopping: 'stopping the packing (Ctrl-C again to stop at once)...', force: () => process.exit(130) });
      const out = await packForCommand(ctx as CommandContext<unknown>, result, source.verification, input, { builder }, stop.signal)
        .catch((error: unknown) => {
          if (!stop.signal.aborted || isCpyError(error, 'CPY_BUILD_CANCELLED')) throw error;
          throw new CpyError('CPY_BUILD_CANCELLED', `the packing was stopped: nothing of it is left in ${outDirOf(ctx as CommandContext<unknown>, input)}`, { hint: 'run the same command again' });
        })
        .finally(() => stop.release());
      if (!json) io.stdout.write([`${style.bold(`Python ${result.version}`)} build ${result.build} ${style.ok('packed')} from ${result.buildDir}`, ...artifactLines(out, style)].join('\n') + '\n');
      const outcome = artifactOutcome(out, 'read the report; pack again without the option that broke it, or build again');
      return { exitCode: outcome.ok ? EXIT.ok : EXIT.failure, outcome: outcome.ok ? 'success' : 'error', data: { build: result, verification: source.verification, ...outcome.data } };
    });
  },
});

/**
 * A check stopped by a signal: cpy exits as the signal would have ended it (130 for Ctrl-C, 143 for
 * SIGTERM, 129 for a hangup), and --json still prints its document, with the error.
 */
function stopped(signal: NodeJS.Signals, message: string): CommandResult {
  return {
    exitCode: 128 + (osConstants.signals[signal] ?? 2),
    outcome: 'error',
    data: { error: { code: 'CPY_ARTIFACT_CANCELLED', message: `${message} (${signal})`, hint: 'run the same command again' } },
  };
}

export function reportLines(summary: string, checks: readonly { id: string; ok: boolean; detail: string }[], style: Style): string[] {
  return [
    ...checks.map((c) => `  ${c.ok ? style.ok('ok  ') : style.bad('FAIL')} ${c.id.padEnd(16)} ${c.detail}`),
    summary.startsWith('[SUCCESS]') ? style.ok(summary) : style.bad(summary.split('\n')[0] ?? summary),
  ];
}

export const artifactValidate = defineCommand({
  name: 'artifact validate',
  summary: summaryOf('artifact validate'),
  description:
    'Checks the checksum (<file>.sha256), the name, the metadata (schema), the LICENSE, that nothing unsafe or secret ' +
    'is inside, then extracts it to a temporary directory and runs python3 --version, imports ssl, sqlite3, uuid, lzma, ' +
    'bz2, ctypes, zlib and readline, runs pip --version and creates a venv, and compares the glibc floor with the ' +
    'metadata. Prints [SUCCESS] or the list of failures. Exit 0 when valid, 1 when not.',
  options: {
    checksum: { type: 'string', valueName: '<file>', description: 'the checksum file (default <file>.sha256)' },
  },
  positionals: [{ name: 'file', required: true, description: 'cpython-<version>-<os><osversion>-build<N>.tgz' }],
  schema: z
    .object({
      values: z.object({ checksum: z.string().min(1).optional() }),
      positionals: z.tuple([z.string().min(1)], { message: 'give one artifact file' }),
    })
    .transform(({ values, positionals }) => ({ file: positionals[0], checksum: values.checksum })),
  examples: ['cpy artifact validate dist/artifacts/cpython-3.13.5-debian12-build1.tgz --json'],
  async run({ input, io, style, json, log }) {
    const file = resolve(io.cwd, input.file);
    // A file that is not there is said so (it was a failed check, with "rebuild" for a hint).
    await refuseMissingFile(file, 'give the path of the artifact: cpython-<version>-<os><osversion>-build<N>.tgz');
    // So is a --checksum that is not there (the whole validation ran, then said "rebuild").
    if (input.checksum) await refuseMissingFile(resolve(io.cwd, input.checksum), 'give the checksum file (--checksum), or leave --checksum out to read <file>.sha256 beside the artifact');
    // Its scratch directory (the unpacked tree and the venvs) goes with a Ctrl-C too: it was left in /tmp.
    const work = await mkdtemp(join(tmpdir(), 'cpy-validate-'));
    let stoppedBy: NodeJS.Signals | null = null;
    const stop = stopOnSignals({
      log,
      stopping: `validation stopped: removing ${work}`,
      force: () => {
        // At once: its python3 may still be writing there (it is killed as cpy exits).
        try {
          rmSync(work, { recursive: true, force: true });
        } catch {
          // what is left of it stays in the temporary directory
        }
        process.exit(130);
      },
      onStop: (signal) => void (stoppedBy = signal),
    });
    let report: Awaited<ReturnType<typeof validateArtifact>>;
    try {
      report = await validateArtifact(file, { workDir: work, signal: stop.signal, ...(input.checksum ? { checksumFile: resolve(io.cwd, input.checksum) } : {}) });
      // Stopped after its last step: stopped all the same, no report.
      stop.signal.throwIfAborted();
    } catch (error) {
      if (!stoppedBy) throw error;
      // Stopped: once its python3 (and what that started) has ended, the work directory goes (finally,
      // below), and cpy exits as the signal would have ended it: 130 for Ctrl-C, 143 for SIGTERM, 129 for a hangup.
      return stopped(stoppedBy, 'validation was stopped before it finished: nothing was checked to the end, and its scratch directory is removed');
    } finally {
      stop.release();
      await rm(work, { recursive: true, force: true });
    }
    if (!json) io.stdout.write([`${style.bold(file)}`, ...reportLines(report.summary, report.checks, style), ...(report.ok ? [] : report.summary.split('\n').slice(1))].join('\n') + '\n');
    const { metadata, ...rest } = report;
    return {
      exitCode: report.ok ? EXIT.ok : EXIT.failure,
      outcome: report.ok ? 'success' : 'error',
      data: {
        report: { ...rest, metadata },
        ...(report.ok ? {} : { error: { code: 'CPY_ARTIFACT_INVALID', message: report.summary.split('\n').slice(1).join('; '), hint: 'rebuild, or fix what the report names' } }),
      },
    };
  },
});

function testLines(run: TestRunResult, style: Style): string[] {
  const verdict = run.ok ? style.ok('passed') : style.bad('FAILED');
  return [
    `  tests     ${run.level}: ${verdict}, ${run.passRate}% of ${run.files.passed + run.files.failed} test files (${run.files.failed} failed, ${run.files.skipped} skipped) in ${(run.durationMs / 1000).toFixed(0)} s`,
    ...(run.failed.length ? [`            failed: ${run.failed.join(' ')}`] : []),
    `            log: ${run.logFile}`,
  ];
}

function testData(run: TestRunResult) {
  const { metadata, ...rest } = run;
  return { ...rest, artifact: { version: metadata.version, build: metadata.build, builtFor: metadata.prefix } };
}

function testsError(run: TestRunResult) {
  return {
    code: 'CPY_ARTIFACT_TESTS_FAILED',
    message: `CPython's ${run.level} tests failed on the artifact: ${run.failed.join(', ') || `python -m test did not finish (see ${run.logFile})`}`,
    hint: `read ${run.logFile}; each failed test is named with its traceback there`,
  };
}

export const artifactTest = defineCommand({
  name: 'artifact test',
  summary: summaryOf('artifact test'),
  description:
    'Unpacks the artifact into a temporary prefix that is not the one it was built for, relocates it with its own ' +
    'post-install script (as both installers do), adds the tests asset (<name>.tests.tgz, written by cpy build; its ' +
    '.sha256 is checked when present), and runs `python3 -m test`. --level critical (the default) runs ' +
    `${CRITICAL_TESTS.join(' ')} and must pass; --level full runs everything (failed tests are rerun once) and reports ` +
    'the pass rate and the failed and skipped tests. The full log is kept beside the artifact. ' +
    'Exit 0 when the critical tests pass (or the full run finished), 1 when not. Ctrl-C (or SIGTERM) stops the tests and ' +
    'their workers and removes the temporary prefix; cpy then exits 130 (143).',
  options: {
    tests: { type: 'string', valueName: '<file>', description: 'the tests asset (default <name>.tests.tgz beside the artifact)' },
    level: { type: 'string', valueName: '<critical|full>', description: 'which tests (default critical)' },
    jobs: { type: 'string', short: 'j', valueName: '<N>', description: 'python -m test -j (default: the CPU count)' },
    'work-dir': { type: 'string', valueName: '<dir>', description: 'keep the relocated prefix and the log there (default: a temporary directory, removed)' },
  },
  positionals: [{ name: 'file', required: true, description: 'cpython-<version>-<os><osversion>-build<N>.tgz' }],
  schema: z
    .object({
      values: z.object({
        tests: z.string().min(1).optional(),
        level: z.enum(['critical', 'full'], { message: 'must be critical or full' }).optional(),
        jobs: positiveInt('a number of jobs, 1 to 256').pipe(z.number().max(256, 'must be a number of jobs, 1 to 256')).optional(),
        'work-dir': z.string().min(1).optional(),
      }),
      positionals: z.tuple([z.string().min(1)], { message: 'give one artifact file' }),
    })
    .transform(({ values, positionals }) => ({ file: positionals[0], ...values })),
  examples: ['cpy artifact test dist/artifacts/cpython-3.13.5-debian12-build1.tgz', 'cpy artifact test dist/artifacts/cpython-3.13.5-debian12-build1.tgz --level full --json'],
  async run(ctx) {
    const { input, io, style, json } = ctx;
    const file = resolve(io.cwd, input.file);
    const level = input.level ?? 'critical';
    // A --tests that is not there is said as such (its hint said to pass --tests, which was passed).
    if (input.tests) await refuseMissingFile(resolve(io.cwd, input.tests), 'give the tests asset cpy build wrote beside the artifact (<name>.tests.tgz), or leave --tests out to find it there');
    ctx.log(`running CPython's ${level} tests on ${file} in a relocated prefix`);
    // Ctrl-C (or SIGTERM) stops the tests and what they started (-j workers), and their temporary
    // directory goes with them; cpy then exits as the signal would have ended it, as validate does
    // (it had no handler: the tree, 130 MB, was left in the temporary directory).
    let stoppedBy: NodeJS.Signals | null = null;
    const stop = stopOnSignals({
      log: ctx.log,
      stopping: 'stopping the tests (Ctrl-C again to exit at once)...',
      force: () => process.exit(130),
      onStop: (signal) => void (stoppedBy = signal),
    });
    let run: Awaited<ReturnType<typeof testArtifact>> | null = null;
    try {
      run = await testArtifact(file, {
        level,
        ...(input.tests ? { tests: resolve(io.cwd, input.tests) } : {}),
        ...(input.jobs ? { jobs: input.jobs } : {}),
        ...(input['work-dir'] ? { workDir: resolve(io.cwd, input['work-dir']) } : {}),
        onLine: testProgress(ctx as CommandContext<unknown>),
        signal: stop.signal,
      });
    } catch (error) {
      if (!stoppedBy) throw error;
    } finally {
      stop.release();
    }
    if (stoppedBy || run === null) {
      const left = input['work-dir'] ? `what they made stays in ${resolve(io.cwd, input['work-dir'])} (the next run there starts afresh)` : 'the temporary prefix is removed';
      return stopped(stoppedBy ?? 'SIGINT', `the tests were stopped before they finished, with their workers: no result, and ${left}`);
    }
    if (!json) io.stdout.write([style.bold(file), ...testLines(run, style), ...(run.skipped.length ? [`            skipped: ${run.skipped.join(' ')}`] : [])].join('\n') + '\n');
    return {
      exitCode: run.ok ? EXIT.ok : EXIT.failure,
      outcome: run.ok ? 'success' : 'error',
      data: { tests: testData(run), ...(run.ok ? {} : { error: testsError(run) }) },
    };
  },
});
