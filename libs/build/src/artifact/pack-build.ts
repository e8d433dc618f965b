import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CpyError } from '@cpy/core';
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
import { createBuilder, type Builder } from '../compile/builders.js';
import { cancelled } from '../compile/runner.js';
import type { BuilderSpec } from '../compile/spec.js';
import type { SourceVerification } from '../source/verify.js';
import { osNamingProblem } from '../os-release.js';
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
  /**
   * Where the build's python3 runs: the builder `cpy build` built on, still running. Without it,
   * a build made in a container or the VM is checked there again: `builder` (packBuilder's, given
   * so that the caller could check it first; by default packBuilder's), started here and stopped
   * after.
   */
  readonly runner?: PythonRunner;
  readonly builder?: Builder | null;
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
  const unnamed = osNamingProblem(result.os);
  if (unnamed) throw new CpyError('CPY_ARTIFACT_UNKNOWN_OS', `the builder (${result.os.prettyName}) ${unnamed.what}`, { hint: unnamed.hint });
}

/** A container builder as its description names it once started: its image and its engine. */
const DESCRIBED = /^container (\S+) \((podman|docker)\)$/;
/** A container's image id as `identity` ends in it: podman's 64 hex digits, docker's sha256:<hex>. */
const IMAGE_ID = /@(sha256:)?[0-9a-f]{64}$/;

/**
 * The builder a build ran on, as packing starts it again to check the artifact where it is meant
 * to run (a bullseye build's python3 needs bullseye's libssl1.1, which this host may not have):
 * null for a build on this host, and when packing runs no checks (unchecked and no tests, or a
 * cross build with no emulator to check it under: its binutils are looked for on this host, as
 * they were). Not started: packBuild starts it. A container is
 * provisioned in full, whatever the build left out (provisionExclude): the artifact's users have
 * the packages its metadata names. Its check and start say, besides their own remedy, that the
 * artifact can be packed unchecked.
 */
export function packBuilder(result: BuildResult, options: Pick<PackBuildOptions, 'validate' | 'runTests'>): Builder | null {
  const recorded = result.builder;
  if (recorded.kind === 'host') return null;
  const checked = Boolean(options.runTests) || (options.validate !== false && (result.cross === null || result.cross.emulator !== null));
  if (!checked) return null;
  let spec: BuilderSpec | undefined = recorded.spec;
  // A result written before the spec was recorded: a container's image and engine are in its
  // description (its identity, when that is not as it was started).
  if (!spec && recorded.kind === 'container') {
    const described = DESCRIBED.exec(recorded.description);
    spec = { kind: 'container', image: described?.[1] ?? recorded.identity.replace(IMAGE_ID, ''), ...(described ? { engine: described[2] as 'podman' | 'docker' } : {}), provision: true, provisionExclude: [] };
  }
  if (!spec) {
    throw new CpyError('CPY_BUILD_RESULT_INVALID', `${result.buildDir}'s build-result.json does not say which Vagrantfile the build ran with (it was written by an earlier cpy), and its artifact is checked in that VM`, {
      hint: `pack it unchecked (--no-validate) and check it in the VM (cpy artifact validate), or build again`,
    });
  }
  const builder = createBuilder(spec.kind === 'container' ? { ...spec, provisionExclude: [] } : spec);
  const unchecked = (error: unknown): never => {
    if (!(error instanceof CpyError) || error.code === 'CPY_BUILD_CANCELLED') throw error;
    throw new CpyError(error.code, `${error.message} (the build ran there, and its artifact is checked there)`, {
      hint: `${error.hint}; or pack it unchecked (--no-validate) and check it where it is meant to run (cpy artifact validate)`,
      details: error.details,
      cause: error,
    });
  };
  // Its description is read through (a container's names its engine once started).
  const forPack = Object.create(builder) as Builder & { check: Builder['check']; start: Builder['start'] };
  forPack.check = () => builder.check().catch(unchecked);
  forPack.start = (...args) => builder.start(...args).catch(unchecked);
  return forPack;
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
  const { signal } = options;
  const log = options.onLog ?? (() => undefined);
  if (options.runTests && result.cross) {
    throw new CpyError('CPY_ARTIFACT_BAD_OPTIONS', `running CPython's tests starts python3 from python3: not possible for a cross build (${result.arch}) under user-mode emulation`, {
      hint: `pack it without running the tests, or build natively on an ${result.arch} host`,
    });
  }
  const own = options.runner ? null : options.builder === undefined ? packBuilder(result, options) : options.builder;
  if (!own) return packOn(result, verification, options, options.runner);
  // A stop stops the builder too, and with it what runs there (provisioning, the checks).
  const stopBuilder = () => void own.stop();
  signal?.addEventListener('abort', stopBuilder, { once: true });
  try {
    const logFile = join(result.buildDir, 'logs', 'pack-builder.log');
    log(`starting ${own.description} again, where the build ran, to check the artifact there (log ${logFile})`);
    await own.start(result.buildDir, logFile, signal, result.cross ? { targetArch: result.arch } : {});
    if (signal?.aborted) throw cancelled();
    // An image whose tag moved since (pulled again, rebuilt): the checks run in today's.
    const now = await own.identity();
    if (now !== result.builder.identity) log(`note: the build ran in ${result.builder.identity}; the checks run in ${now}`);
    return await packOn(result, verification, options, (file, args) => own.exec(file, args));
  } finally {
    signal?.removeEventListener('abort', stopBuilder);
    await own.stop();
  }
}

/** packBuild's work, its python3 run by `runner` (the builder's), else on this host. */
async function packOn(result: BuildResult, verification: SourceVerification, options: PackBuildOptions, runner: PythonRunner | undefined): Promise<PackedBuild> {
  const { outDir, signal } = options;
  const log = options.onLog ?? (() => undefined);
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
