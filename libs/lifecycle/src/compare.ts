import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpyError, parseVersion, type ErrorCodeOf } from '@cpy/core';
import { findInstalled, listInstalled, repairHint, resolveLayout, versionRequestSchema, type Environment } from '@cpy/install';

/** The pure-Python workload (libs/lifecycle/python/workload.py), shipped in this package beside dist/. */
export const WORKLOAD_SOURCE = new URL('../python/workload.py', import.meta.url);
/** The module inventory script, shipped beside it. */
export const INVENTORY_SOURCE = new URL('../python/inventory.py', import.meta.url);

export const DEFAULT_RUNS = 15;
export const DEFAULT_WARMUP = 2;
export const DEFAULT_THRESHOLD_PCT = 10;

/** The modules the second start-up timing and the peak RSS measure import. */
export const STARTUP_IMPORTS = 'import json, ssl, sqlite3';

export type Side = 'A' | 'B';

export interface ComparePythonsOptions {
  /** An installed version (3.13.5, or 3.13: the newest 3.13 installed) or a prefix directory holding bin/python3 (/usr). */
  readonly a: string;
  readonly b: string;
  /** Measured runs of each timing, per interpreter (default 15). */
  readonly runs?: number;
  /** Unmeasured start-up runs of each interpreter first (default 2). */
  readonly warmup?: number;
  /** A timing of B more than this many percent slower than A is a regression (default 10). */
  readonly thresholdPct?: number;
  /** The workload script (default the shipped workload.py): run as `python3 <script> 1`, it prints one JSON object {name: seconds}. */
  readonly workload?: string | URL;
  /** cpy's layout, to find installed versions (as `cpy list`): state directory, CPY_HOME... */
  readonly stateDir?: string;
  readonly env?: Environment;
  /** Relative prefixes are resolved against it (default process.cwd()). */
  readonly cwd?: string;
  readonly onEvent?: (event: CompareEvent) => void;
  /** Stops the comparison: the running interpreter is ended, the scratch directory removed, and it rejects with CPY_COMPARE_CANCELLED. */
  readonly signal?: AbortSignal;
}

/** One of the two interpreters, as resolved and as it describes itself. */
export interface ComparedPython {
  readonly side: Side;
  /** The argument, as given. */
  readonly given: string;
  readonly kind: 'installed' | 'prefix';
  readonly prefix: string;
  /** `<prefix>/bin/python3`: what every measurement runs. */
  readonly python: string;
  /** platform.python_version() */
  readonly version: string;
  /** platform.python_implementation() */
  readonly implementation: string;
  /** sys.executable, links resolved. */
  readonly executable: string;
}

export type CompareEvent =
  | { readonly type: 'resolved'; readonly python: ComparedPython }
  | { readonly type: 'phase'; readonly phase: 'warm-up' | 'start-up' | 'workload' | 'inventory'; readonly detail: string }
  | { readonly type: 'run'; readonly phase: 'start-up' | 'workload'; readonly run: number; readonly of: number };

/** The samples of one measure on one interpreter. */
export interface Sample {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly values: readonly number[];
}

/** What was measured, raw: the input of compareSeries. */
export interface Series {
  readonly id: string;
  readonly label: string;
  /** Timings can regress; memory is reported, never counted as a regression. */
  readonly kind: 'time' | 'memory';
  readonly unit: 'ms' | 'KiB';
  readonly a: readonly number[];
  readonly b: readonly number[];
}

/** One measure compared: medians, B/A, and what it means. */
export interface Measure {
  readonly id: string;
  readonly label: string;
  readonly kind: 'time' | 'memory';
  readonly unit: 'ms' | 'KiB';
  readonly a: Sample;
  readonly b: Sample;
  /** b.median / a.median: below 1, B is faster (or smaller). */
  readonly ratio: number;
  /** (ratio - 1) x 100: positive, B takes longer (or more memory). */
  readonly changePct: number;
  /** The faster (smaller) one; null when the medians are equal. */
  readonly better: Side | null;
  /** E.g. `B is 12.3 % faster`, `B uses 4.0 % more memory`. */
  readonly summary: string;
  /** A timing of B slower than A by more than the threshold. */
  readonly regression: boolean;
}

export interface ModuleInventory {
  /** Where the names came from: `sys.stdlib_module_names`, or (before 3.10) `stdlib directories`. */
  readonly source: string;
  readonly tried: number;
  readonly imported: readonly string[];
  /** Name: why it did not import (`ModuleNotFoundError: No module named '_tkinter'`). */
  readonly failed: Readonly<Record<string, string>>;
  /** Never imported (antigravity opens a browser). */
  readonly skipped: readonly string[];
}

export interface InventoryComparison {
  readonly a: ModuleInventory;
  readonly b: ModuleInventory;
  /** Import on B, not on A (private `_` modules included). */
  readonly added: readonly string[];
  /** Import on A, not on B (private `_` modules included). */
  readonly missing: readonly string[];
}

export interface CompareReport {
  readonly a: ComparedPython;
  readonly b: ComparedPython;
  readonly runs: number;
  readonly warmup: number;
  readonly thresholdPct: number;
  /** Start-up timings, peak RSS, then the workload's benchmarks and their total. */
  readonly measures: readonly Measure[];
  readonly inventory: InventoryComparison;
  /** The ids of the timings that regressed beyond the threshold. */
  readonly regressions: readonly string[];
  readonly regressed: boolean;
  readonly startedAt: string;
  readonly durationMs: number;
}

// ---------------------------------------------------------------------------------------------
// Pure: statistics, comparison, inventory diff, Markdown.

const median = (sorted: readonly number[]) => {
  const mid = Math.floor(sorted.length / 2);
  const at = (i: number) => sorted[i] ?? Number.NaN;
  return sorted.length % 2 ? at(mid) : (at(mid - 1) + at(mid)) / 2;
};

/** Median, min and max of a series (at least one value). */
export function summarize(values: readonly number[]): Sample {
  if (values.length === 0) throw new Error('summarize: no values');
  const sorted = [...values].sort((x, y) => x - y);
  return { median: median(sorted), min: Math.min(...sorted), max: Math.max(...sorted), values: [...values] };
}

const pct = (x: number) => `${Math.abs(x).toFixed(1)} %`;

/** Compares each series, B against A: medians, B/A, which is better and whether a timing regressed beyond `thresholdPct`. */
export function compareSeries(series: readonly Series[], thresholdPct: number = DEFAULT_THRESHOLD_PCT): Measure[] {
  return series.map((s) => {
    const a = summarize(s.a);
    const b = summarize(s.b);
    const ratio = a.median === 0 ? (b.median === 0 ? 1 : Infinity) : b.median / a.median;
    const changePct = (ratio - 1) * 100;
    const better: Side | null = ratio < 1 ? 'B' : ratio > 1 ? 'A' : null;
    const same = Math.abs(changePct) < 0.05;
    const summary =
      s.kind === 'time'
        ? same
          ? 'the same time (within 0.1 %)'
          : `B is ${pct(changePct)} ${better === 'B' ? 'faster' : 'slower'}`
        : same
          ? 'the same memory (within 0.1 %)'
          : `B uses ${pct(changePct)} ${better === 'B' ? 'less' : 'more'} memory`;
    return { id: s.id, label: s.label, kind: s.kind, unit: s.unit, a, b, ratio, changePct, better, summary, regression: s.kind === 'time' && changePct > thresholdPct };
  });
}

const difference = (x: readonly string[], y: readonly string[]) => {
  const other = new Set(y);
  return x.filter((n) => !other.has(n)).sort();
};

/** What imports on B and not on A (added), and on A and not on B (missing). */
export function diffInventories(a: ModuleInventory, b: ModuleInventory): InventoryComparison {
  return { a, b, added: difference(b.imported, a.imported), missing: difference(a.imported, b.imported) };
}

/** Without the private modules (`_ssl`, `__hello__`): what summaries show. */
export const publicModules = (names: readonly string[]) => names.filter((n) => !n.startsWith('_'));

/** The median with its unit, then min and max in the same unit: `14.2 ms (13.9-15.0)`, `1.47 s (1.23-1.71)`. */
function formatSample(s: Sample, unit: Measure['unit']): string {
  const [scale, digits, shown] = unit === 'KiB' ? [1, 0, 'KiB'] : s.median >= 1000 ? [1000, 2, 's'] : [1, 1, 'ms'];
  const f = (v: number) => (v / scale).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return `${f(s.median)} ${shown} (${f(s.min)}-${f(s.max)})`;
}
const describeSide = (p: ComparedPython) => `${p.implementation} ${p.version} (${p.side}: ${p.kind === 'installed' ? `${p.given}, ` : ''}${p.prefix})`;

/** A measure's cells, for the CLI's table and the Markdown: A, B, B/A, and the verdict. */
export function measureCells(m: Measure, thresholdPct: number): [string, string, string, string] {
  const verdict = m.regression ? `${m.summary}: regression (over ${thresholdPct} %)` : m.summary;
  return [formatSample(m.a, m.unit), formatSample(m.b, m.unit), Number.isFinite(m.ratio) ? m.ratio.toFixed(3) : '∞', verdict];
}

/** The module differences as summaries show them: public modules only, and how many private ones differ. */
export function inventorySummary(inv: InventoryComparison): { added: string[]; missing: string[]; privateDiffer: number } {
  const added = publicModules(inv.added);
  const missing = publicModules(inv.missing);
  return { added, missing, privateDiffer: inv.added.length + inv.missing.length - added.length - missing.length };
}

const cell = (s: string) => s.replace(/\|/g, '\\|');
const codeList = (names: readonly string[]) => (names.length ? names.map((n) => `\`${n}\``).join(', ') : 'none');

/** The report as Markdown (release notes, pull requests): a table of the measures and the module differences. */
export function compareMarkdown(report: CompareReport): string {
  const { a, b } = report;
  const lines = [
    `### ${describeSide(a)} vs ${describeSide(b)}`,
    '',
    `Medians of ${report.runs} run${report.runs === 1 ? '' : 's'} in fresh processes, A and B interleaved (the order alternating each round) ` +
      `after ${report.warmup} warm-up run${report.warmup === 1 ? '' : 's'} of each; min-max in brackets. ` +
      `B/A below 1: B is faster or smaller. A timing of B more than ${report.thresholdPct} % slower is a regression.`,
    '',
    '| measure | A | B | B/A | B against A |',
    '|---|--:|--:|--:|---|',
    ...report.measures.map((m) => {
      const [ca, cb, ratio, verdict] = measureCells(m, report.thresholdPct);
      return `| ${cell(m.label)} | ${ca} | ${cb} | ${ratio} | ${m.regression ? `**${cell(verdict)}**` : cell(verdict)} |`;
    }),
    '',
  ];
  const inv = inventorySummary(report.inventory);
  lines.push(
    `**Standard library modules that import** (${report.inventory.a.imported.length} on A, ${report.inventory.b.imported.length} on B; private \`_\` modules left out${inv.privateDiffer ? `, ${inv.privateDiffer} of them differ` : ''}):`,
    '',
    `- only on B: ${codeList(inv.added)}`,
    `- only on A: ${codeList(inv.missing)}`,
    '',
    report.regressed
      ? `**Regression**: ${report.measures.filter((m) => m.regression).map((m) => m.label).join('; ')}.`
      : `No timing of B is more than ${report.thresholdPct} % slower than A.`,
  );
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Resolving the two arguments.

const PREFIX_HINT = 'give an installed version (see cpy list) or a prefix directory holding bin/python3, e.g. /usr or /opt/python-3.13.5';

function fail(code: ErrorCodeOf<'@cpy/lifecycle'>, message: string, hint: string, details: Record<string, unknown> = {}): never {
  throw new CpyError(code, message, { hint, details });
}

const looksLikePath = (s: string) => s.includes('/') || s === '.' || s === '..' || s.startsWith('~');

function prefixPython(side: Side, given: string, dir: string): string {
  let stat;
  try {
    stat = statSync(dir);
  } catch {
    return fail('CPY_COMPARE_NOT_FOUND', `${side} (${given}): ${dir} does not exist`, PREFIX_HINT, { side, given });
  }
  if (!stat.isDirectory()) {
    const hint = /^python/.test(basename(dir)) ? `give the prefix the interpreter is installed under instead: ${dirname(dirname(dir))}` : PREFIX_HINT;
    return fail('CPY_COMPARE_NOT_A_PREFIX', `${side} (${given}): ${dir} is a file, not a prefix directory`, hint, { side, given });
  }
  const python = join(dir, 'bin', 'python3');
  if (!existsSync(python)) {
    const hint = existsSync(join(dir, 'python3')) ? `give the prefix, not its bin directory: ${dirname(dir)}` : PREFIX_HINT;
    return fail('CPY_COMPARE_NO_PYTHON', `${side} (${given}): ${dir} has no bin/python3`, hint, { side, given });
  }
  return python;
}

async function locate(side: Side, given: string, options: ComparePythonsOptions): Promise<{ kind: 'installed' | 'prefix'; prefix: string; python: string }> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const asPath = (p: string) => {
    const expanded = p === '~' || p.startsWith('~/') ? join(env['HOME'] ?? '', p.slice(1)) : p;
    const prefix = isAbsolute(expanded) ? expanded : resolve(cwd, expanded);
    return { kind: 'prefix' as const, prefix, python: prefixPython(side, given, prefix) };
  };
  if (given.trim() === '') return fail('CPY_COMPARE_NOT_FOUND', `${side}: an empty argument`, PREFIX_HINT, { side, given });
  if (looksLikePath(given) || !versionRequestSchema.safeParse(given).success) return asPath(given);
  const layout = { ...(options.stateDir ? { stateDir: options.stateDir } : {}), env };
  const found = await findInstalled(given, layout);
  if (!found) {
    // A directory called 3.13 here, say: it is what was meant.
    if (existsSync(resolve(cwd, given))) return asPath(given);
    const stateDir = resolveLayout({ stateDir: options.stateDir }, env).stateDir;
    const installed = (await listInstalled(layout)).map((r) => r.version);
    // A release line names its final releases: one with only a pre-release installed (3.14.0rc1)
    // was told to install the line, which has no final release to install yet.
    const pre = installed.filter((v) => v.startsWith(`${given}.`) && parseVersion(v)?.pre);
    return fail(
      'CPY_COMPARE_NOT_INSTALLED',
      `${side} (${given}): no CPython ${given} is installed by cpy (${stateDir} lists ${installed.length ? installed.join(', ') : 'none'})`,
      pre.length
        ? `${given} names final releases only: give the pre-release itself (${pre.join(' or ')})`
        : `install it first (cpy install ${given}; CPY_HOME or --state-dir pick another cpy layout), or ${PREFIX_HINT}`,
      { side, given, stateDir, installed },
    );
  }
  // Broken: no valid marker of its version, or a tree that cannot start (it was run, and said as a prefix given by hand).
  if (!found.marker || found.damage) {
    const why = found.holds ? `holds CPython ${found.holds} now` : found.damage ? `is damaged (${found.damage} is missing)` : 'is incomplete (no valid install marker)';
    return fail('CPY_COMPARE_BROKEN_INSTALL', `${side} (${given}): the install of CPython ${found.version} in ${found.prefix} ${why}`, repairHint(found.version, found.prefix, found.holds), {
      side,
      given,
    });
  }
  return { kind: 'installed', prefix: found.prefix, python: prefixPython(side, given, found.prefix) };
}

// ---------------------------------------------------------------------------------------------
// Running the interpreters.

interface Ran {
  readonly ms: number;
  readonly stdout: string;
}

/** The environment of every child: the caller's, without PYTHON* variables (PYTHONPATH, PYTHONHOME... would skew one side). */
function childEnv(env: Environment): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k, v]) => v !== undefined && !k.startsWith('PYTHON'))) as NodeJS.ProcessEnv;
}

const tail = (text: string) => text.trim().split('\n').slice(-3).join(' ').slice(0, 500);

interface Runner {
  (python: ComparedPython | { side: Side; python: string; given: string }, args: readonly string[], timeoutMs?: number): Promise<Ran>;
}

const cancelled = () =>
  new CpyError('CPY_COMPARE_CANCELLED', 'the comparison was stopped: nothing was measured to the end, and its scratch directory is removed', {
    hint: 'run it again; fewer runs (--runs 5) take less time',
  });

function makeRunner(env: NodeJS.ProcessEnv, cwd: string, signal: AbortSignal | undefined): Runner {
  return (who, args, timeoutMs = 120_000) =>
    new Promise((resolvePromise, reject) => {
      if (signal?.aborted) {
        reject(cancelled());
        return;
      }
      const started = performance.now();
      // -s: the user's own site-packages (a .pth there for one of the two versions) is not what is compared.
      const child = execFile(who.python, ['-s', ...args], { env, cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', ...(signal ? { signal } : {}) }, (error, stdout, stderr) => {
        const ms = performance.now() - started;
        if (error && signal?.aborted) {
          reject(cancelled());
          return;
        }
        if (error) {
          const how = error.killed ? `was stopped after ${timeoutMs / 1000} s` : typeof error.code === 'number' ? `exited with ${error.code}` : `failed: ${error.message}`;
          reject(
            new CpyError('CPY_COMPARE_RUN_FAILED', `${who.side} (${who.given}): \`${who.python} ${args.map((x) => (x.includes(' ') ? `'${x}'` : x)).join(' ')}\` ${how}: ${tail(stderr || stdout)}`, {
              hint: `check that interpreter on its own; a prefix installed by cpy is checked by reinstalling it (cpy install <version>)`,
              details: { side: who.side, args: [...args] },
            }),
          );
          return;
        }
        resolvePromise({ ms, stdout });
      });
      // Nothing here reads stdin: closed, so nothing can wait on it.
      child.stdin?.end();
    });
}

/** What IDENTIFY answers. */
interface Identity {
  readonly version: string;
  readonly implementation: string;
  readonly executable: string;
  readonly supported: boolean;
}
/** Before the answer, on its line: a .pth or sitecustomize may print too, even at exit (its last line was taken for the answer). */
const IDENTIFY_MARKER = '@@cpy-identify@@';
const IDENTIFY =
  `import json, os, platform, sys; print("\\n${IDENTIFY_MARKER}" + json.dumps({"version": platform.python_version(), "implementation": platform.python_implementation(), ` +
  '"executable": os.path.realpath(sys.executable), "supported": sys.version_info >= (3, 6)}))';

async function identify(run: Runner, side: Side, given: string, located: { kind: 'installed' | 'prefix'; prefix: string; python: string }): Promise<ComparedPython> {
  let out: Ran;
  try {
    out = await run({ side, given, python: located.python }, ['-c', IDENTIFY], 60_000);
  } catch (error) {
    // A stop (Ctrl-C) while it starts is the stop, not a python that does not run.
    if (error instanceof CpyError && error.code !== 'CPY_COMPARE_CANCELLED') {
      throw new CpyError('CPY_COMPARE_PYTHON_FAILED', `${side} (${given}): ${located.python} does not run: ${error.message.replace(/^[^:]*: /, '')}`, {
        hint: located.kind === 'installed' ? `install it again where it is (cpy uninstall <version>, with --force if it is the current version, then cpy install <version> --prefix ${located.prefix}), and compare then` : PREFIX_HINT,
        details: { side, given },
      });
    }
    throw error;
  }
  const answer = out.stdout.split('\n').findLast((l) => l.startsWith(IDENTIFY_MARKER))?.slice(IDENTIFY_MARKER.length);
  let info: Identity | null = null;
  try {
    info = answer ? (JSON.parse(answer) as Identity) : null;
  } catch {
    info = null;
  }
  if (!info) {
    // (It was JSON.parse's SyntaxError: "a bug in cpy".)
    fail('CPY_COMPARE_PYTHON_FAILED', `${side} (${given}): ${located.python} did not answer as a python3 does: ${tail(out.stdout) || '(nothing)'}`, located.kind === 'installed' ? `install it again where it is (cpy install <version> --prefix ${located.prefix}), and compare then` : PREFIX_HINT, { side, given });
  }
  if (!info.supported) {
    fail('CPY_COMPARE_UNSUPPORTED', `${side} (${given}): Python ${info.version} is too old to compare (3.6 or newer)`, PREFIX_HINT, { side, given });
  }
  return { side, given, kind: located.kind, prefix: located.prefix, python: located.python, version: info.version, implementation: info.implementation, executable: info.executable };
}

const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';
const INVENTORY_MARKER = '@@cpy-inventory@@';

function parseJson<T>(who: ComparedPython, what: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fail('CPY_COMPARE_RUN_FAILED', `${who.side} (${who.given}): ${what} printed no JSON: ${tail(text)}`, 'check that interpreter on its own', { side: who.side });
  }
}

/** Peak RSS in KiB (Linux reports ru_maxrss in KiB, macOS in bytes). */
const RSS_SCRIPT = `${STARTUP_IMPORTS}, resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)`;
const toKiB = (v: number) => (process.platform === 'darwin' ? v / 1024 : v);

const path = (p: string | URL) => (p instanceof URL ? fileURLToPath(p) : p);

/**
 * `cpy compare`: two CPython interpreters (installed versions or prefixes) side by side.
 * Start-up time of `python3 -c pass` and of `python3 -c 'import json, ssl, sqlite3'`, the peak
 * RSS after those imports, and the pure-Python workload: fresh processes, A and B interleaved
 * (A B, then B A: the order alternates each round) after a warm-up, medians over `runs`. Then which standard library modules import
 * on each. Children run in an empty directory, without PYTHON* variables, one at a time.
 */
export async function comparePythons(options: ComparePythonsOptions): Promise<CompareReport> {
  const runs = options.runs ?? DEFAULT_RUNS;
  const warmup = options.warmup ?? DEFAULT_WARMUP;
  const thresholdPct = options.thresholdPct ?? DEFAULT_THRESHOLD_PCT;
  if (!Number.isInteger(runs) || runs < 1) fail('CPY_COMPARE_BAD_OPTION', `runs must be a whole number, 1 or more (not ${runs})`, 'e.g. --runs 15');
  if (!Number.isInteger(warmup) || warmup < 0) fail('CPY_COMPARE_BAD_OPTION', `warmup must be a whole number, 0 or more (not ${warmup})`, 'e.g. 2');
  if (!Number.isFinite(thresholdPct)) fail('CPY_COMPARE_BAD_OPTION', `the threshold must be a number of percent (not ${thresholdPct})`, 'e.g. --threshold 10');
  const workload = path(options.workload ?? WORKLOAD_SOURCE);
  const emit = options.onEvent ?? (() => undefined);
  const startedAt = new Date();
  const t0 = performance.now();

  const located = [await locate('A', options.a, options), await locate('B', options.b, options)] as const;
  // One install reached twice (3.13 and 3.13.5, latest, a prefix and its version), or one python3
  // through two prefixes (/ and /usr where /bin is a link to usr/bin): its own noise read as a regression.
  const [realA, realB] = await Promise.all(located.map((l) => realpath(l.prefix).catch(() => l.prefix)));
  const [pythonA, pythonB] = await Promise.all(located.map((l) => realpath(l.python).catch(() => l.python)));
  const different = 'compare two different installs: another version or prefix on one side (cpy list shows what is installed)';
  if (realA === realB) fail('CPY_COMPARE_SAME_PYTHON', `A (${options.a}) and B (${options.b}) are the same install: ${realA}`, different, { prefix: realA, python: pythonA });
  if (pythonA === pythonB) {
    fail('CPY_COMPARE_SAME_PYTHON', `A (${options.a}) and B (${options.b}) run the same python3: ${pythonA} (${located[0].python} and ${located[1].python})`, different, { prefix: realA, python: pythonA });
  }
  if (options.signal?.aborted) throw cancelled();
  const scratch = await mkdtemp(join(tmpdir(), 'cpy-compare-'));
  try {
    // An empty working directory: -c puts it first on sys.path, where a json.py must not shadow anything.
    const run = makeRunner(childEnv(options.env ?? process.env), scratch, options.signal);
    const a = await identify(run, 'A', options.a, located[0]);
    emit({ type: 'resolved', python: a });
    const b = await identify(run, 'B', options.b, located[1]);
    emit({ type: 'resolved', python: b });
    const both = [a, b] as const;
    // Interleaved, the order alternating each round (A B, B A, A B ...): neither always runs first.
    const order = (round: number) => (round % 2 ? [b, a] : [a, b]);

    const startups = [
      { id: 'startup.pass', label: 'start-up: `python3 -c pass`', args: ['-c', 'pass'] },
      { id: 'startup.imports', label: `start-up: \`python3 -c '${STARTUP_IMPORTS}'\``, args: ['-c', STARTUP_IMPORTS] },
    ];
    if (warmup > 0) {
      emit({ type: 'phase', phase: 'warm-up', detail: `${warmup} unmeasured start-up runs of each` });
      for (let i = 0; i < warmup; i++) for (const s of startups) for (const who of order(i)) await run(who, s.args);
    }

    emit({ type: 'phase', phase: 'start-up', detail: `${runs} runs, A and B interleaved: python3 -c pass, -c '${STARTUP_IMPORTS}', and its peak RSS` });
    const times = startups.map((s) => ({ ...s, a: [] as number[], b: [] as number[] }));
    const rss = { a: [] as number[], b: [] as number[] };
    for (let i = 0; i < runs; i++) {
      for (const s of times) {
        for (const who of order(i)) s[who === a ? 'a' : 'b'].push((await run(who, s.args)).ms);
      }
      for (const who of order(i)) {
        const out = lastLine((await run(who, ['-c', RSS_SCRIPT])).stdout);
        const kib = Number(out);
        if (!Number.isFinite(kib) || out === '') fail('CPY_COMPARE_RUN_FAILED', `${who.side} (${who.given}): the peak RSS measure printed ${JSON.stringify(out)}`, 'check that interpreter on its own');
        rss[who === a ? 'a' : 'b'].push(toKiB(kib));
      }
      emit({ type: 'run', phase: 'start-up', run: i + 1, of: runs });
    }

    emit({ type: 'phase', phase: 'workload', detail: `${runs} runs of ${basename(workload)}, A and B interleaved` });
    const benches = { a: [] as Record<string, number>[], b: [] as Record<string, number>[] };
    for (let i = 0; i < runs; i++) {
      for (const who of order(i)) {
        const out = await run(who, [workload, '1'], 600_000);
        benches[who === a ? 'a' : 'b'].push(parseJson<Record<string, number>>(who, basename(workload), lastLine(out.stdout)));
      }
      emit({ type: 'run', phase: 'workload', run: i + 1, of: runs });
    }
    const names = Object.keys(benches.a[0] ?? {});
    const namesB = Object.keys(benches.b[0] ?? {});
    if (names.join() !== namesB.join() || names.length === 0) {
      fail('CPY_COMPARE_RUN_FAILED', `the workload reported different benchmarks: A ${names.join(', ') || 'none'}; B ${namesB.join(', ') || 'none'}`, 'the workload must print the same JSON keys on both interpreters');
    }
    const ofBench = (side: 'a' | 'b', name: string) => benches[side].map((r) => Number(r[name]) * 1000);
    const totals = (side: 'a' | 'b') => benches[side].map((r) => names.reduce((sum, n) => sum + Number(r[n]) * 1000, 0));

    emit({ type: 'phase', phase: 'inventory', detail: 'importing each standard library module, one process per interpreter' });
    const inventories: Record<Side, ModuleInventory | null> = { A: null, B: null };
    for (const who of both) {
      const out = await run(who, [fileURLToPath(INVENTORY_SOURCE)], 600_000);
      const line = out.stdout.split('\n').find((l) => l.startsWith(INVENTORY_MARKER));
      if (!line) fail('CPY_COMPARE_RUN_FAILED', `${who.side} (${who.given}): the module inventory printed no result: ${tail(out.stdout)}`, 'check that interpreter on its own');
      inventories[who.side] = parseJson<ModuleInventory>(who, 'the module inventory', line.slice(INVENTORY_MARKER.length));
    }

    const series: Series[] = [
      ...times.map((s) => ({ id: s.id, label: s.label, kind: 'time' as const, unit: 'ms' as const, a: s.a, b: s.b })),
      { id: 'rss.imports', label: `peak RSS after \`${STARTUP_IMPORTS}\``, kind: 'memory', unit: 'KiB', ...rss },
      ...names.map((n) => ({ id: `workload.${n}`, label: `workload: ${n}`, kind: 'time' as const, unit: 'ms' as const, a: ofBench('a', n), b: ofBench('b', n) })),
      { id: 'workload.total', label: 'workload: total', kind: 'time', unit: 'ms', a: totals('a'), b: totals('b') },
    ];
    const measures = compareSeries(series, thresholdPct);
    const regressions = measures.filter((m) => m.regression).map((m) => m.id);
    return {
      a,
      b,
      runs,
      warmup,
      thresholdPct,
      measures,
      inventory: diffInventories(inventories.A as ModuleInventory, inventories.B as ModuleInventory),
      regressions,
      regressed: regressions.length > 0,
      startedAt: startedAt.toISOString(),
      durationMs: Math.round(performance.now() - t0),
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
