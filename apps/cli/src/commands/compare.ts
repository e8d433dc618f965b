import { resolve } from 'node:path';
import { CpyError } from '@cpy/core';
import {
  compareMarkdown,
  comparePythons,
  DEFAULT_RUNS,
  DEFAULT_THRESHOLD_PCT,
  DEFAULT_WARMUP,
  inventorySummary,
  measureCells,
  STARTUP_IMPORTS,
  type CompareEvent,
  type CompareReport,
} from '@cpy/lifecycle';
import * as z from 'zod';
import { EXIT, defineCommand, type CommandContext } from '../command.js';
import type { Style } from '../io.js';
import { summaryOf } from './table.js';
import { stopOnSignals } from '../signals.js';

/** Progress on stderr: what was resolved and each phase as log lines; the runs as a counter on a terminal. */
function compareProgress(ctx: CommandContext<unknown>) {
  let counting = false;
  const endCounter = () => {
    if (counting) ctx.io.stderr.write('\n');
    counting = false;
  };
  return (event: CompareEvent) => {
    if (event.type === 'run') {
      if (!ctx.io.stderr.isTTY) return;
      ctx.io.stderr.write(`\r\u001b[2K${event.phase}: run ${event.run} of ${event.of}`);
      counting = true;
      return;
    }
    endCounter();
    if (event.type === 'resolved') {
      const p = event.python;
      ctx.log(`${p.side}: ${p.implementation} ${p.version}, ${p.python}${p.kind === 'installed' ? ` (installed ${p.given})` : ''}`);
    } else ctx.log(`${event.phase}: ${event.detail}`);
  };
}

function renderText(report: CompareReport, style: Style): string {
  const header = ['measure', 'A', 'B', 'B/A', 'B against A'];
  const rows = [header, ...report.measures.map((m) => [m.label.replace(/`/g, ''), ...measureCells(m, report.thresholdPct)])];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const lines = [
    `A: ${report.a.implementation} ${report.a.version}  ${report.a.python}`,
    `B: ${report.b.implementation} ${report.b.version}  ${report.b.python}`,
    `medians of ${report.runs} run${report.runs === 1 ? '' : 's'}, A and B interleaved (the order alternating) after ${report.warmup} warm-up runs of each; min-max in brackets`,
    '',
  ];
  rows.forEach((r, i) => {
    const text = r.map((c, j) => (j === r.length - 1 ? c : c.padEnd(widths[j] ?? 0))).join('  ');
    const m = i > 0 ? report.measures[i - 1] : undefined;
    lines.push(m?.regression ? style.bad(text) : text);
    if (i === 0) lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  });
  const inv = inventorySummary(report.inventory);
  lines.push(
    '',
    `stdlib modules that import: ${report.inventory.a.imported.length} on A, ${report.inventory.b.imported.length} on B (private _ modules left out below${inv.privateDiffer ? `; ${inv.privateDiffer} of them differ, see --json` : ''})`,
    `  only on B: ${inv.added.join(', ') || 'none'}`,
    `  only on A: ${inv.missing.join(', ') || 'none'}`,
    '',
    report.regressed
      ? style.bad(`regression: ${report.measures.filter((m) => m.regression).map((m) => m.label.replace(/`/g, '')).join('; ')} (over ${report.thresholdPct} %)`)
      : style.ok(`no timing of B is more than ${report.thresholdPct} % slower than A`),
  );
  return lines.join('\n') + '\n';
}

export const compare = defineCommand({
  name: 'compare',
  summary: summaryOf('compare'),
  description:
    'Each of A and B is a version cpy installed (3.13.5, or 3.13 for the newest 3.13 installed; found as `cpy list` finds them: ' +
    '--state-dir, CPY_HOME) or a prefix directory holding bin/python3 (/usr, /opt/python-3.13.5). Measured in fresh processes, ' +
    `one at a time, A and B interleaved (A B, then B A: the order alternates each round) after ${DEFAULT_WARMUP} unmeasured start-up ` +
    `runs of each: the start-up time of \`python3 -c pass\` and of \`python3 -c '${STARTUP_IMPORTS}'\`, the peak RSS after those ` +
    'imports (ru_maxrss, KiB), and a pure-Python workload shipped with cpy (nbody, fannkuch, spectral norm, objects, JSON, regex: ' +
    'each benchmark and the total). Each is reported as the median over --runs, with min and max, B/A and the change in percent. ' +
    'Then every standard library module (sys.stdlib_module_names; before 3.10, what the standard library directories hold) is ' +
    'imported on each, in one process per interpreter, and the modules that import on only one of them are listed (private _ ' +
    'modules only in --json). Children run in an empty directory, without PYTHON* variables. --markdown prints the report as a ' +
    'Markdown table (release notes, pull requests); --json prints one document with every sample. Exit 0; 1 when a timing of B ' +
    'is more than --threshold percent slower than A (memory is reported, never counted), or on an error (--json: outcome says which). ' +
    'Ctrl-C stops it: the interpreter running is ended and its scratch directory removed (exit 1, CPY_COMPARE_CANCELLED); a second Ctrl-C exits at once (exit 130).',
  options: {
    runs: { type: 'string', valueName: '<N>', description: `measured runs of each timing per interpreter (default ${DEFAULT_RUNS})` },
    threshold: { type: 'string', valueName: '<pct>', description: `a timing of B slower than A by more than this is a regression, exit 1 (default ${DEFAULT_THRESHOLD_PCT}; negative: --threshold=-5)` },
    markdown: { type: 'boolean', description: 'print the report as Markdown' },
    'state-dir': { type: 'string', valueName: '<dir>', description: 'where cpy records installs (to find an installed version)' },
  },
  positionals: [
    { name: 'a', required: true, description: 'the baseline: an installed version (3.13.5, 3.13) or a prefix holding bin/python3 (/usr)' },
    { name: 'b', required: true, description: 'the one compared with it, the same way' },
  ],
  schema: z
    .object({
      values: z.object({
        runs: z.string().regex(/^[1-9]\d{0,3}$/, 'must be a whole number of runs from 1 to 9999, e.g. 15').transform(Number).optional(),
        threshold: z.string().regex(/^-?\d+(\.\d+)?$/, 'must be a number of percent, e.g. 10').transform(Number).optional(),
        markdown: z.boolean().optional(),
        'state-dir': z.string().min(1).optional(),
      }),
      positionals: z.tuple(
        [z.string().min(1, 'an interpreter is empty: give an installed version (3.13.5) or a prefix (/usr)'), z.string().min(1, 'an interpreter is empty: give an installed version (3.13.5) or a prefix (/usr)')],
        { message: 'give two interpreters: installed versions (3.13.5) or prefixes (/usr)' },
      ),
    })
    .transform(({ values, positionals }) => ({ a: positionals[0], b: positionals[1], ...values })),
  examples: ['cpy compare /usr 3.13.5', 'cpy compare 3.12 3.13 --markdown > comparison.md', 'cpy compare /opt/python-3.13.4 /opt/python-3.13.5 --runs 31 --threshold 5 --json'],
  async run(ctx) {
    const { input, io, style, json } = ctx;
    if (json && input.markdown) {
      throw new CpyError('CPY_CLI_USAGE', '--json and --markdown both want stdout: give one of them', { hint: 'the JSON document has every figure the Markdown shows' });
    }
    // Ctrl-C (or SIGTERM) ends the interpreter running and removes the scratch directory (CPY_COMPARE_CANCELLED); a second exits at once.
    const stop = stopOnSignals({ log: ctx.log, stopping: 'stopping the comparison (Ctrl-C again to stop at once)...', force: () => process.exit(130) });
    let report: CompareReport;
    try {
      report = await comparePythons({
        a: input.a,
        b: input.b,
        ...(input.runs ? { runs: input.runs } : {}),
        ...(input.threshold !== undefined ? { thresholdPct: input.threshold } : {}),
        ...(input['state-dir'] ? { stateDir: resolve(io.cwd, input['state-dir']) } : {}),
        env: io.env,
        cwd: io.cwd,
        onEvent: compareProgress(ctx as CommandContext<unknown>),
        signal: stop.signal,
      });
    } finally {
      stop.release();
    }
    if (input.markdown) io.stdout.write(compareMarkdown(report));
    else if (!json) io.stdout.write(renderText(report, style));
    return { exitCode: report.regressed ? EXIT.failure : EXIT.ok, outcome: 'success', data: { compare: report } };
  },
});
