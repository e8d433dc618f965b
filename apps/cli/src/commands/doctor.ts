import { join, resolve } from 'node:path';
import { checkBuildHost, defaultCacheDir, type CheckResult } from '@cpy/build';
import * as z from 'zod';
import { EXIT, defineCommand } from '../command.js';
import { summaryOf } from './table.js';
import type { Style } from '../io.js';

const schema = z
  .object({
    values: z.object({
      dir: z.string().min(1).optional(),
      'min-free-gb': z
        .string()
        .regex(/^\d+(\.\d+)?$/, 'must be a number of GiB, e.g. 3')
        .transform(Number)
        .optional(),
      cc: z.string().min(1).optional(),
    }),
    positionals: z.array(z.string()).max(0, 'doctor takes no arguments'),
  })
  .transform(({ values }) => ({ dir: values.dir, minFreeGiB: values['min-free-gb'], cc: values.cc }));

function mark(check: CheckResult, style: Style): string {
  if (check.ok) return style.ok('ok  ');
  return check.critical ? style.bad('MISS') : style.warn('opt ');
}

export const doctor = defineCommand({
  name: 'doctor',
  summary: summaryOf('doctor'),
  description:
    'Checks the C compiler and tools, the development headers behind the critical modules ' +
    '(ssl, sqlite3, uuid, lzma, bz2, ctypes, zlib, readline) and the optional ones ' +
    '(curses, dbm, tkinter), free disk, and that /etc/os-release names the system and its version (the artifact is named by them); ' +
    'prints the exact packages to install for what is missing. ' +
    'Exit 0 when a build can run, 1 when something critical is missing.',
  options: {
    dir: { type: 'string', valueName: '<path>', description: 'the build directory to check (free space, writable): default where cpy build works, <cache-dir>/builds' },
    'min-free-gb': { type: 'string', valueName: '<GiB>', description: 'free space the build needs (default: 3)' },
    cc: { type: 'string', valueName: '<compiler>', description: 'C compiler to check headers with (default: $CC or cc)' },
  },
  positionals: [],
  schema,
  examples: ['cpy doctor', 'cpy doctor --dir /var/tmp/cpy --json'],
  async run({ input, io, style, json }) {
    // Where cpy build works by default (its --work-dir): the current directory said nothing of it.
    const buildDir = input.dir ? resolve(io.cwd, input.dir) : join(defaultCacheDir(io.env), 'builds');
    const report = await checkBuildHost({
      buildDir,
      cc: input.cc ?? io.env['CC'] ?? 'cc',
      cppflags: [io.env['CPPFLAGS'], io.env['CFLAGS']].filter(Boolean).join(' '),
      ...(input.minFreeGiB === undefined ? {} : { minFreeBytes: input.minFreeGiB * 1024 ** 3 }),
    });
    // The build directory is not a library to install: said apart (it was "install the libraries named above").
    // What to do for the failed checks that no package fixes (the build directory, a --cc that names no program).
    // (Once each: the header checks a --cc that cannot run left undone share its hint.)
    const hints = [...new Set(report.checks.flatMap((c) => (!c.ok && c.hint ? [c.hint] : [])))];
    const libraries = report.checks.filter((c) => !c.ok && c.critical && !c.hint).map((c) => c.id);
    if (!json) {
      const out: string[] = [`${style.bold('cpy doctor')} on ${report.os.prettyName}`];
      const width = Math.max(...report.checks.map((c) => c.id.length));
      for (const c of report.checks) {
        const pkgs = !c.ok && c.packages.length ? style.dim(` (${c.packages.join(' ')})`) : '';
        const what = !c.ok && !c.packages.length && !c.hint ? style.dim(` (needs ${c.what})`) : '';
        out.push(`  ${mark(c, style)} ${c.id.padEnd(width)}  ${c.detail}${pkgs}${what}`);
      }
      out.push('');
      if (report.missing.critical.length) out.push(`${style.bad('Missing')}: ${report.missing.critical.join(', ')}`);
      if (report.missing.optional.length) out.push(`${style.warn('Optional, missing')}: ${report.missing.optional.join(', ')}`);
      if (report.fix) out.push(`To install what is missing: ${style.bold(report.fix.command)}`);
      else if (libraries.length) out.push('Install the libraries named above with your system package manager.');
      out.push(...hints);
      if (report.ok) out.push(style.ok('This host can build CPython.'));
      io.stdout.write(out.join('\n') + '\n');
    }
    return {
      exitCode: report.ok ? EXIT.ok : EXIT.failure,
      outcome: report.ok ? 'success' : 'error',
      data: {
        report,
        ...(report.ok
          ? {}
          : {
              error: {
                code: 'CPY_BUILD_HOST_INCOMPLETE',
                message: `missing: ${report.missing.critical.join(', ')}`,
                hint: [report.fix ? `run: ${report.fix.command}` : libraries.length ? 'install the libraries named in the report' : '', ...hints].filter(Boolean).join('; '),
              },
            }),
      },
    };
  },
});
