import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { type ArtifactMetadata, artifactMetadataSchema, checksumFileName, CpyError, METADATA_ENTRY, parseChecksumLine, testsFileName } from '@cpy/core';
import { runInGroup } from '@cpy/core/process-group';
import { extractArtifact } from './extract.js';
import { sha256File } from './hash.js';
import { relocateTree, type PythonRunner } from './postinstall.js';
import { isTestPath } from './tree.js';
import { readArtifactMetadata } from './read.js';

/**
 * The tests that must pass for an artifact to be released (PROCED-INFRA-006 step 5): the
 * modules that link system libraries, and the ones that prove the install works where it
 * lands (venv, sysconfig, getpath, site).
 */
export const CRITICAL_TESTS = [
  'test_ssl',
  'test_sqlite3',
  'test_json',
  'test_venv',
  'test_sysconfig',
  'test_getpath',
  'test_site',
  'test_ctypes',
  'test_zlib',
  'test_lzma',
  'test_bz2',
  'test_uuid',
  'test_readline',
] as const;

export type TestLevel = 'critical' | 'full';

export interface TestRunSummary {
  readonly level: TestLevel;
  /** Every test file ran without failure (critical), or the run finished (full: judged by the rate). */
  readonly ok: boolean;
  /** Test files: run, passed, failed, skipped (skipped includes resource-denied). */
  readonly files: { readonly run: number; readonly passed: number; readonly failed: number; readonly skipped: number };
  /** passed / (passed + failed), in percent, one decimal. */
  readonly passRate: number;
  readonly failed: readonly string[];
  readonly skipped: readonly string[];
  readonly durationMs: number;
}

export interface TestRunResult extends TestRunSummary {
  /** The relocated prefix the tests ran in (removed afterwards unless a workDir was given). */
  readonly prefix: string;
  readonly command: readonly string[];
  readonly logFile: string;
  readonly metadata: ArtifactMetadata;
}

export interface TestArtifactOptions {
  /** The tests asset; default `<name>.tests.tgz` beside the artifact. Its `.sha256` must match when present. */
  readonly tests?: string;
  readonly level?: TestLevel;
  /** Kept afterwards (with the log); default a temporary directory, removed. */
  readonly workDir?: string;
  /** Where the log goes; default `<workDir>/cpython-tests.log`, or beside the artifact when workDir is temporary. */
  readonly logFile?: string;
  /** `python -m test -j`; default the number of CPUs. */
  readonly jobs?: number;
  /** Each line `python -m test` prints (progress). */
  readonly onLine?: (line: string) => void;
  readonly signal?: AbortSignal;
  /**
   * Runs the tests somewhere else: where the artifact is meant to run (the builder's container
   * for a container build). The workDir must be visible there at the same path. Progress lines
   * then come at the end.
   */
  readonly runner?: PythonRunner;
}

/**
 * Parses the summary `python -m test` prints at the end (3.11 to 3.14): the last
 * `== Tests result: ... ==` block, with `N tests failed:` / `N tests skipped:` /
 * `N tests skipped (resource denied):` followed by indented names, and `N tests OK.`. With
 * `-w`, that block is the one after the reruns: a test that passed when rerun is not in it.
 */
export function parseRegrtestSummary(output: string): Omit<TestRunSummary, 'level' | 'ok' | 'durationMs'> {
  const all = output.split('\n');
  const last = all.map((l) => l.startsWith('== Tests result:')).lastIndexOf(true);
  const lines = last >= 0 ? all.slice(last) : all;
  const blocks: Record<string, string[]> = {};
  let passed = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    const ok = /^(?:All )?(\d+) tests? OK\.$/.exec(line);
    if (ok) passed = Number(ok[1]);
    const head = /^\d+ (?:tests?|re-run tests?) (failed|skipped|skipped \(resource denied\)|run no tests)?:$/.exec(line) ?? /^\d+ (re-run) tests?:$/.exec(line);
    if (!head) continue;
    const names: string[] = [];
    for (let next = lines[i + 1]; next !== undefined && /^\s{4}\S/.test(next); next = lines[i + 1]) {
      names.push(...next.trim().split(/\s+/));
      i++;
    }
    const kind = head[1] ?? 'other';
    blocks[kind] = [...(blocks[kind] ?? []), ...names];
  }
  const failed = [...new Set(blocks['failed'] ?? [])].sort();
  const skipped = [...new Set([...(blocks['skipped'] ?? []), ...(blocks['skipped (resource denied)'] ?? [])])].sort();
  const total = passed + failed.length;
  return {
    files: { run: total + skipped.length, passed, failed: failed.length, skipped: skipped.length },
    passRate: total ? Math.round((1000 * passed) / total) / 10 : 0,
    failed,
    skipped,
  };
}

async function verifyBeside(file: string): Promise<void> {
  const sums = join(dirname(file), checksumFileName(basename(file)));
  const line = await readFile(sums, 'utf8').then(parseChecksumLine, () => undefined);
  if (line === undefined) return;
  const digest = await sha256File(file);
  if (!line || line.sha256 !== digest) {
    throw new CpyError('CPY_ARTIFACT_CHECKSUM_MISMATCH', `${basename(file)} has sha256 ${digest}, but ${basename(sums)} says ${line?.sha256 ?? 'nothing readable'}`, {
      hint: 'download the tests asset again (it must come from the same build as the artifact)',
    });
  }
}

/** Moves the test packages of `from` (an unpacked tests asset) into `tree`. */
async function mergeTests(from: string, tree: string): Promise<number> {
  let moved = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const name of await readdir(join(from, rel)).catch(() => [] as string[])) {
      const path = rel ? `${rel}/${name}` : name;
      if (isTestPath(path)) {
        await mkdir(dirname(join(tree, path)), { recursive: true });
        await rm(join(tree, path), { recursive: true, force: true });
        await rename(join(from, path), join(tree, path));
        moved++;
      } else if ((await stat(join(from, path))).isDirectory()) {
        await walk(path);
      }
    }
  };
  await walk('');
  return moved;
}

/**
 * Runs CPython's own test suite against an artifact the way users get it: unpacked into a
 * temporary prefix that is not the one it was built for, relocated with the artifact's own
 * post-install script (as both installers do), the tests asset added, then
 * `python3 -m test` (the critical list, or everything).
 */
export async function testArtifact(artifact: string, options: TestArtifactOptions = {}): Promise<TestRunResult> {
  const level = options.level ?? 'critical';
  if (!(await stat(artifact).catch(() => null))?.isFile()) {
    throw new CpyError('CPY_ARTIFACT_NOT_FOUND', `no artifact ${artifact}`, { hint: 'give the path of a cpython-<version>-<os><osversion>-build<N>.tgz made by cpy build' });
  }
  const testsAsset = options.tests ?? join(dirname(artifact), testsFileName(basename(artifact)));
  if (!(await stat(testsAsset).catch(() => null))) {
    throw new CpyError('CPY_ARTIFACT_NO_TESTS', `no tests asset ${testsAsset}`, {
      hint: 'cpy build writes <name>.tests.tgz beside the artifact; pass it with --tests, or pack the build again (cpy artifact pack)',
    });
  }
  await verifyBeside(testsAsset);
  const parsed = artifactMetadataSchema.safeParse(await readArtifactMetadata(artifact).catch(() => null));
  if (!parsed.success) {
    throw new CpyError('CPY_ARTIFACT_NOT_AN_ARTIFACT', `${basename(artifact)} has no valid ${METADATA_ENTRY}`, { hint: 'give an artifact made by cpy build or cpy artifact pack' });
  }
  const metadata = parsed.data;
  const root = metadata.prefix.replace(/^\//, '');
  const logFile = options.logFile ?? join(options.workDir ?? dirname(artifact), `${basename(artifact).replace(/\.(tgz|tar\.zst)$/, '')}.${level}-tests.log`);
  // Made now, before minutes of unpacking and testing: a log that cannot be written there (beside
  // an artifact in a read-only or full directory) is said at once, as the file system's refusal.
  // (Found as the tests began, the log's stream failed unheard: Node ended on an unhandled error,
  // and the unpacked tree was left in the temporary directory.)
  // (Opened to append: the log of an earlier run stays until this one writes its own; one made
  // here goes again if this run fails before its tests start.)
  await mkdir(dirname(logFile), { recursive: true });
  const fresh = !existsSync(logFile);
  await (await open(logFile, 'a')).close();
  let testing = false;
  const work = options.workDir ?? (await mkdtemp(join(tmpdir(), 'cpy-test-')));
  // A prefix that is not the build prefix: what users get with installPrefix or a non-root install.
  const prefix = join(work, 'relocated', `python-${metadata.version}`);
  try {
    // All of it under relocated/, cpy's own in a --work-dir (which may be a user's directory): what
    // a run stopped or failed before left there (a half-unpacked tree read as a corrupt artifact:
    // its files exist) goes first.
    const relocated = join(work, 'relocated');
    await rm(relocated, { recursive: true, force: true });
    const unpacked = join(relocated, '.unpacked');
    const unpackedTests = join(relocated, '.unpacked-tests');
    await extractArtifact(artifact, { dest: unpacked, root });
    await extractArtifact(testsAsset, { dest: unpackedTests, root });
    await rename(join(unpacked, root), prefix);
    const merged = await mergeTests(join(unpackedTests, root), prefix);
    await Promise.all([unpacked, unpackedTests].map((d) => rm(d, { recursive: true, force: true })));
    if (merged === 0) {
      throw new CpyError('CPY_ARTIFACT_NO_TESTS', `${basename(testsAsset)} holds no test packages under ${root}/`, { hint: 'use the tests asset of the same build' });
    }
    await relocateTree(prefix, metadata.prefix, prefix, options.runner);
    const jobs = options.jobs ?? availableParallelism();
    const command = [join(prefix, 'bin', 'python3'), '-m', 'test', `-j${jobs}`, '--timeout', '1200', ...(level === 'critical' ? [...CRITICAL_TESTS] : ['-w'])];
    const started = Date.now();
    testing = true;
    const output = options.runner ? await runElsewhere(options.runner, command, logFile, options) : await runLogged(command, logFile, join(work, 'tmp'), options);
    const summary = parseRegrtestSummary(output.text);
    const ran = summary.files.passed + summary.files.failed;
    const ok = level === 'critical' ? output.exitCode === 0 && summary.files.failed === 0 && ran > 0 : ran > 0;
    return { level, ok, ...summary, durationMs: Date.now() - started, prefix, command, logFile, metadata };
  } catch (error) {
    if (fresh && !testing) await rm(logFile, { force: true });
    throw error;
  } finally {
    if (!options.workDir) await rm(work, { recursive: true, force: true });
  }
}

async function runElsewhere(runner: PythonRunner, command: readonly string[], logFile: string, options: TestArtifactOptions): Promise<{ exitCode: number; text: string }> {
  const [file = 'python3', ...args] = command;
  const r = await runner(file, args);
  const text = r.stdout + r.stderr;
  await writeFile(logFile, text);
  for (const line of text.split('\n')) options.onLine?.(line);
  return { exitCode: r.exitCode, text };
}

/**
 * Runs the tests on this host, their output to the log and (line by line) to onLine. In a process
 * group of its own: a stop ends python3 and the test workers it started (-j), not python3 alone
 * (SIGINT, which regrtest passes on to its workers), and settles once python3's group is gone, so
 * that the caller can remove the tree they ran from.
 */
async function runLogged(command: readonly string[], logFile: string, tmp: string, options: TestArtifactOptions): Promise<{ exitCode: number; text: string }> {
  await mkdir(tmp, { recursive: true });
  const log = createWriteStream(logFile);
  // A write that fails later (the disk filled): the run goes on, and its error is the result.
  let logFault: Error | null = null;
  log.on('error', (error) => void (logFault ??= error));
  const [file = 'python3', ...args] = command;
  let text = '';
  let partial = '';
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    const s = chunk.toString('utf8');
    text += s;
    const parts = (partial + s).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) options.onLine?.(line);
  };
  const { done } = runInGroup(file, args, {
    cwd: tmp,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', LC_ALL: 'C.UTF-8', HOME: tmp, TMPDIR: tmp },
    cleanEnv: true,
    signal: options.signal,
    // regrtest runs each -j worker in a session of its own, which a signal to the group misses;
    // on KeyboardInterrupt it stops them itself (SIGTERM left them running to the end of their test).
    stopSignal: 'SIGINT',
    onStdout: onData,
    onStderr: onData,
  });
  const ended = await done;
  if (partial) options.onLine?.(partial);
  await new Promise<void>((resolve) => (log.destroyed ? resolve() : log.end(resolve)));
  if (ended.error) throw ended.error;
  if (logFault) throw logFault;
  return { exitCode: ended.code ?? 1, text };
}
