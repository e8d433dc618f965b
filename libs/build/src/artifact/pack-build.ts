import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CpyError, unnameablePlatform } from '@cpy/core';
import {
  discardArtifact,
  placeArtifact,
  rejectArtifact,
  stageArtifact,
  testArtifact,
  validateArtifact,
  type PackedArtifact,
  type PackOptions,
  type PythonRunner,
  type RejectedArtifact,
  type StagedArtifact,
  type TestLevel,
  type TestRunResult,
  type ValidationReport,
} from '@cpy/artifact';
import type { BuildResult } from '../compile/build.js';
import { cancelled } from '../compile/runner.js';
import type { SourceVerification } from '../source/verify.js';
import { artifactMetadataFor } from './metadata.js';

export interface PackBuildOptions {
  /** Where the artifact goes (made by the caller, who said so before the build). */
  readonly outDir: string;
  /** Keep CPython's test suite in the artifact. */
  readonly keepTests?: boolean;
  /** Write the test suite as <name>.tests.tgz beside it (default true). */
  readonly testsAsset?: boolean;
  /** Strip the binaries (default true). */
  readonly strip?: boolean;
  readonly compression?: NonNullable<PackOptions['compression']>;
  /** Keep the debug symbols as <name>.debug.tgz. */
  readonly debugSymbols?: boolean;
  /** Validate the artifact before it goes in (default true). */
  readonly validate?: boolean;
  /** Run CPython's tests on the packed artifact, and pack it again with their result. */
  readonly runTests?: TestLevel;
  /** Where the build's python3 runs (a container builder); default this host. */
  readonly runner?: PythonRunner;
  /** Stops the packing, the tests, the validation where they are. */
  readonly signal?: AbortSignal;
  /** What is being done, a line at a time. */
  readonly onLog?: (message: string) => void;
  /** Each line `python -m test` prints (--run-tests). */
  readonly onTestLine?: (line: string) => void;
}

export interface PackedBuild {
  /** In the output directory when its checks passed (or were not run); in `rejected/` when they failed. */
  readonly packed: PackedArtifact | RejectedArtifact;
  readonly validation: ValidationReport | null;
  readonly tests: TestRunResult | null;
}

/**
 * The artifact's name needs the builder's distribution and its version: refused before a build
 * (CPY_BUILD_UNKNOWN_OS, by the caller) and here before a pack, of a build made elsewhere.
 */
function refuseUnnameable(result: BuildResult): void {
  if (!result.os.versionId) {
    throw new CpyError('CPY_ARTIFACT_UNKNOWN_OS', `the builder (${result.os.prettyName}) has no VERSION_ID in /etc/os-release`, {
      hint: 'build on (or in a container of) a released distribution',
    });
  }
  const unnameable = unnameablePlatform(result.os.id, result.os.versionId);
  if (unnameable) {
    throw new CpyError('CPY_ARTIFACT_UNKNOWN_OS', `the builder (${result.os.prettyName}) cannot name an artifact: ${unnameable} (cpython-<version>-<id><version>-build<N>.tgz)`, {
      hint: 'build on (or in a container of) a released distribution whose /etc/os-release names it with letters and its version with digits',
    });
  }
}

/**
 * Packs a finished build, validates the artifact (unless `validate: false`; with `runner`, where
 * it is meant to run) and, with `runTests`, runs CPython's tests on it and packs it again with
 * their result in its metadata. All of it happens in a staging directory inside the output
 * directory: the artifact goes in (in place of an earlier pack of the same name) only when its
 * checks pass. One whose checks fail goes apart, to `rejected/`, with a note that publishing and
 * indexing refuse; a stop (`signal`) leaves the output directory as it was (CPY_BUILD_CANCELLED).
 */
export async function packBuild(result: BuildResult, verification: SourceVerification, options: PackBuildOptions): Promise<PackedBuild> {
  refuseUnnameable(result);
  const { outDir, runner, signal } = options;
  const log = options.onLog ?? (() => undefined);
  if (options.runTests && result.cross) {
    throw new CpyError('CPY_ARTIFACT_BAD_OPTIONS', `running CPython's tests starts python3 from python3: not possible for a cross build (${result.arch}) under user-mode emulation`, {
      hint: `pack it without running the tests, or build natively on an ${result.arch} host`,
    });
  }
  // On a builder, the scratch trees must be where the builder sees them: in the build directory
  // (where the stripped copies are made too).
  const scratch = join(result.buildDir, 'artifact-checks');
  const stage = (tests?: TestRunResult) =>
    stageArtifact({
      installDir: result.installDir,
      metadata: {
        ...artifactMetadataFor(result, verification),
        ...(tests ? { tests: { level: tests.level, files: tests.files, passRate: tests.passRate, failed: [...tests.failed], skipped: [...tests.skipped], durationMs: tests.durationMs } } : {}),
      },
      outDir,
      keepTests: Boolean(options.keepTests),
      testsAsset: options.testsAsset ?? true,
      strip: options.strip ?? true,
      compression: options.compression ?? 'gzip',
      debugSymbols: Boolean(options.debugSymbols),
      packagesFor: async () => result.runtimePackages,
      // A cross build's binutils (aarch64-linux-gnu-strip) are on its builder, which sees the build directory.
      ...(result.cross && runner ? { foreignTools: runner } : {}),
      scratchDir: scratch,
      ...(signal ? { signal } : {}),
    });
  let tests: TestRunResult | null = null;
  /** Into the output directory: its checks passed, or were not run. */
  const place = async (staged: StagedArtifact, validation: ValidationReport | null): Promise<PackedBuild> => {
    const packed = await placeArtifact(staged);
    if (packed.removed.length) log(`removed what an earlier pack left in ${outDir} that is not this artifact's: ${packed.removed.join(', ')}`);
    return { packed, validation, tests };
  };
  let staged: StagedArtifact | null = null;
  let doing = 'packing';
  try {
    log(`packing ${result.installDir}`);
    staged = await stage();
    if (options.runTests) {
      doing = 'testing';
      // Its log with the build's (<build dir>/logs): the output directory gets nothing but what passed.
      tests = await runTests(staged.path, join(result.buildDir, 'logs'), options.runTests, staged.tests?.path, { ...(runner ? { runner, workDir: join(scratch, 'tests') } : {}), ...(signal ? { signal } : {}) }, options);
      // Stopped while the tests ran: their result is not packed.
      if (signal?.aborted) throw cancelled();
      log(`packing again with the test result in the metadata`);
      doing = 'packing it again with the test result';
      const untested = staged;
      staged = await stage(tests);
      await discardArtifact(untested);
    }
    doing = 'validating';
    const emulator = result.cross?.emulator;
    if (options.validate === false || (result.cross && !(emulator && runner))) {
      if (options.validate !== false) log(`not validating ${staged.fileName}: a ${result.arch} artifact runs here only under an emulator on its builder, ${runner ? 'which has none' : 'and this is not one'}`);
      if (!tests || tests.ok) return await place(staged, null);
    } else {
      log(`validating ${staged.fileName}${emulator ? ` on the builder under ${emulator.program}` : runner ? ' on the builder' : ''}`);
      const target: PythonRunner | undefined = emulator && runner ? (file, args) => runner(emulator.program, [...emulator.args, file, ...args]) : runner;
      // A stop ends the validation where it is (its python3 on this host; a builder is stopped whole).
      const validation = await validateArtifact(staged.path, { ...(target ? { runner: target, workDir: join(scratch, 'validate'), ...(emulator ? { emulated: true } : {}) } : {}), ...(signal ? { signal } : {}) });
      if (signal?.aborted) throw cancelled();
      if (validation.ok && (!tests || tests.ok)) return await place(staged, validation);
      const packed = await rejectArtifact(staged, rejectionReasons(validation, tests));
      staged = null;
      log(`${packed.fileName} failed its checks: kept apart in ${dirname(packed.path)} (${basename(packed.notePath)} says why), not in ${outDir}`);
      return { packed, validation, tests };
    }
    const packed = await rejectArtifact(staged, rejectionReasons(null, tests));
    staged = null;
    log(`${packed.fileName} failed CPython's tests: kept apart in ${dirname(packed.path)} (${basename(packed.notePath)} says why), not in ${outDir}`);
    return { packed, validation: null, tests };
  } catch (error) {
    // Stopped once packing began: the output directory is as it was (the build is still there to pack).
    if (signal?.aborted && staged) {
      throw new CpyError('CPY_BUILD_CANCELLED', `stopped while ${doing}: nothing was put in ${outDir}`, {
        hint: `pack the build again when you want it (cpy artifact pack ${result.buildDir}), or run the same command again`,
      });
    }
    throw error;
  } finally {
    if (staged) await discardArtifact(staged).catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
}

/** What a rejected artifact's note says: each failed check, the failed tests. */
export function rejectionReasons(validation: ValidationReport | null, tests: TestRunResult | null): string[] {
  return [
    ...(validation?.checks.filter((c) => !c.ok).map((c) => `FAIL ${c.id}: ${c.detail}`) ?? []),
    ...(tests && !tests.ok ? [`CPython's ${tests.level} tests failed: ${tests.failed.join(', ') || `python -m test did not finish (see ${tests.logFile})`}`] : []),
  ];
}

/** CPython's tests on the staged artifact, their log in `logDir` as <name>.<level>-tests.log. */
async function runTests(
  artifact: string,
  logDir: string,
  level: TestLevel,
  tests: string | undefined,
  where: { runner?: PythonRunner; workDir?: string; signal?: AbortSignal },
  options: PackBuildOptions,
): Promise<TestRunResult> {
  const log = options.onLog ?? (() => undefined);
  log(`running CPython's ${level} tests on ${basename(artifact)} in a relocated prefix${where.runner ? ' on the builder' : ''}`);
  const logFile = testLogFile(logDir, artifact, level);
  const run = await testArtifact(artifact, { level, logFile, ...(tests ? { tests } : {}), ...where, ...(options.onTestLine ? { onLine: options.onTestLine } : {}) });
  log(`tests: ${run.passRate}% of ${run.files.passed + run.files.failed} test files passed${run.failed.length ? ` (failed: ${run.failed.join(' ')})` : ''}; log ${run.logFile}`);
  return run;
}

/** Where --run-tests writes `python -m test`'s log: <build dir>/logs/<artifact name>.<level>-tests.log. */
export function testLogFile(logDir: string, artifact: string, level: TestLevel): string {
  return join(logDir, `${basename(artifact).replace(/\.(tgz|tar\.zst)$/, '')}.${level}-tests.log`);
}
