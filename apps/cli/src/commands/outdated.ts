import { resolve } from 'node:path';
import { findOutdated } from '@cpy/lifecycle';
import * as z from 'zod';
import { EXIT, defineCommand } from '../command.js';
import { locate } from '../location.js';
import { summaryOf } from './table.js';

export const outdated = defineCommand({
  name: 'outdated',
  summary: summaryOf('outdated'),
  description:
    "Reads the index (--index, or CPY_INDEX_URL) and python.org's release tree (or --mirror, a copy with the same layout: " +
    'http(s)://, file:// or a directory) and reports: each release line the index publishes whose newest upstream release has no ' +
    'active build; the newest builds of a line older than 6 months (BR-004: rebuild them with the next build number); each line ' +
    'past its end of life that still has active builds (the end-of-life dates ship with cpy, with the date they were checked). ' +
    "--json adds `dispatch`: the release workflow's runs (versions and build number) that would bring it up to date. " +
    'Exit 0: nothing to do; 1: something to build or retire, or an error (--json: outcome says which).',
  options: {
    index: { type: 'string', valueName: '<url|file>', description: 'the index (default CPY_INDEX_URL)' },
    mirror: { type: 'string', valueName: '<url|dir>', description: 'the upstream release tree (default https://www.python.org/ftp/python/)' },
    'max-age-days': { type: 'string', valueName: '<N>', description: 'rebuild builds older than this (default 183, about 6 months)' },
    'ca-file': { type: 'string', valueName: '<pem>', description: 'extra CA certificates for https' },
  },
  positionals: [],
  schema: z
    .object({
      values: z.object({
        index: z.string().min(1).optional(),
        mirror: z.string().min(1).optional(),
        'max-age-days': z.string().regex(/^[1-9]\d*$/, 'must be a number of days').transform(Number).optional(),
        'ca-file': z.string().min(1).optional(),
      }),
      positionals: z.tuple([]),
    })
    .transform(({ values }) => values),
  examples: ['cpy outdated --index https://github.com/acme/python-builds/releases/download/cpy-index/index.json', 'cpy outdated --mirror ./python-mirror --json'],
  async run({ input, io, style, json }) {
    const report = await findOutdated({
      ...(input.index ? { indexUrl: locate(io.cwd, input.index) } : {}),
      ...(input.mirror ? { mirror: input.mirror } : {}),
      ...(input['max-age-days'] ? { maxAgeDays: input['max-age-days'] } : {}),
      ...(input['ca-file'] ? { caFile: resolve(io.cwd, input['ca-file']) } : {}),
      env: io.env,
      cwd: io.cwd,
    });
    if (!json) {
      const lines = [`${report.index} against ${report.upstream}`];
      for (const m of report.missing) lines.push(`${style.bad('missing')}   ${m.line}: ${m.version} is released and has no active build${m.published ? ` (newest built: ${m.published})` : ''}; build ${m.version} as build ${m.nextBuild}`);
      for (const s of report.stale) lines.push(`${style.bad('stale')}     ${s.version}: built ${s.publishedAt.slice(0, 10)}, ${s.ageDays} days ago; rebuild as build ${s.nextBuild}`);
      for (const e of report.endOfLife) lines.push(`${style.bad('ended')}     ${e.line}: end of life since ${e.ended}; still active: ${e.activeBuilds.join(', ')}`);
      for (const line of report.unchecked) lines.push(`${style.bad('unchecked')} ${line}: ${report.upstream} has no ${line} release; the line was not compared`);
      if (report.upToDate) {
        lines.push(style.ok(report.unchecked.length === 0 ? 'up to date: every release line has its newest release built, none is too old or past its end of life' : 'the lines compared are up to date: each has its newest release built, none is too old or past its end of life'));
      }
      io.stdout.write(lines.join('\n') + '\n');
    }
    return { exitCode: report.upToDate ? EXIT.ok : EXIT.failure, outcome: 'success', data: { outdated: report } };
  },
});
