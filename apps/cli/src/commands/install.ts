import { isAbsolute, resolve } from 'node:path';
import { pythonVersionSchema } from '@cpy/artifact';
import { installPython, listInstalled, rollback, uninstall, useVersion, type InstallEvent, type InstallOptions, type VersionOptions } from '@cpy/install';
import { z } from 'zod';
import { EXIT, defineCommand, type CommandContext } from '../command.js';
import { summaryOf } from './table.js';
import { createProgress, formatBytes } from '../progress.js';

const LAYOUT_HELP =
  'Defaults: as root /opt/python-<version>, links in /usr/local/bin, state in /var/lib/cpy; otherwise under ' +
  '~/.local/share/cpy, ~/.local/bin and ~/.local/state/cpy. CPY_HOME puts all three under one directory; artifacts ' +
  'are cached by sha256 in CPY_CACHE_DIR (default ~/.cache/cpy).';

const STATE_OPTIONS = {
  'bin-dir': { type: 'string', valueName: '<dir>', description: 'where python3, python, pip3, pip... are linked' },
  'state-dir': { type: 'string', valueName: '<dir>', description: 'where cpy records installs and the current version' },
} as const;

const stateValues = {
  'bin-dir': z.string().min(1).optional(),
  'state-dir': z.string().min(1).optional(),
};

/** A location as given: URLs as they are, paths made absolute against the working directory. */
const locate = (cwd: string, location: string | undefined) =>
  location === undefined || /^(https?|file):\/\//.test(location) || isAbsolute(location) ? location : resolve(cwd, location);

function versionOptions(cwd: string, values: { 'bin-dir'?: string | undefined; 'state-dir'?: string | undefined }): VersionOptions {
  return {
    ...(values['bin-dir'] ? { binDir: resolve(cwd, values['bin-dir']) } : {}),
    ...(values['state-dir'] ? { stateDir: resolve(cwd, values['state-dir']) } : {}),
  };
}

/** Phases as log lines; the download as a bar; extraction as a percentage on a terminal. */
function installProgress(ctx: CommandContext<unknown>) {
  const bar = createProgress(ctx.io);
  let file = 'artifact';
  let lastPct = -1;
  return (event: InstallEvent) => {
    if (event.type === 'download') return bar.update({ file, received: event.received, total: event.total });
    if (event.type === 'extract') {
      const pct = Math.floor((100 * event.bytes) / Math.max(1, event.total));
      if (ctx.io.stderr.isTTY && pct !== lastPct && pct % 5 === 0) ctx.io.stderr.write(`\r\u001b[2Kextracting ${pct}% of ${formatBytes(event.total)}`);
      lastPct = pct;
      return;
    }
    bar.done();
    if (lastPct >= 0 && ctx.io.stderr.isTTY) ctx.io.stderr.write('\n');
    lastPct = -1;
    if (event.type === 'phase') {
      if (event.phase === 'download') file = event.detail.split(' ')[0] ?? file;
      ctx.log(`${event.phase}: ${event.detail}`);
    } else if (event.type === 'waiting') ctx.log(`waiting for another install of this prefix (${event.holder})`);
    else ctx.log(`warning: ${event.message}`);
  };
}

export const install = defineCommand({
  name: 'install',
  summary: summaryOf('install'),
  description:
    'Reads the expected sha256 (--sha256, --checksum-url, or <artifact>.sha256 beside it), refuses an artifact this ' +
    'host cannot run (architecture, glibc, missing system libraries) before extracting anything, streams the download ' +
    'into the cache while hashing it, extracts beside the prefix, runs the new python3, and renames the tree into ' +
    'place. A second run with the same artifact returns at once, without network. Concurrent installs of one prefix ' +
    'wait for each other; a killed run leaves the old state, and the next run cleans up after it. Without --from, ' +
    `the version is installed from the cache. ${LAYOUT_HELP}`,
  options: {
    from: { type: 'string', valueName: '<url|file>', description: 'the artifact (.tgz): https://, http://, file:// or a path' },
    'checksum-url': { type: 'string', valueName: '<url|file>', description: 'its sha256sum line (default <artifact>.sha256)' },
    sha256: { type: 'string', valueName: '<hex>', description: 'the expected sha256, instead of a checksum file' },
    prefix: { type: 'string', valueName: '<dir>', description: 'where to install (default: see below)' },
    ...STATE_OPTIONS,
    'no-link': { type: 'boolean', description: 'do not create python3/pip3 links' },
    'no-activate': { type: 'boolean', description: 'install, but keep the current version as it is' },
    'skip-validation': { type: 'boolean', description: 'do not check the new python3 before putting it in place (it still runs to relocate a tree installed away from its build prefix)' },
    'install-system-deps': { type: 'boolean', description: 'install missing system libraries with apt-get/dnf/apk (root)' },
    'ca-file': { type: 'string', valueName: '<pem>', description: 'extra CA certificates for https' },
  },
  positionals: [{ name: 'version', required: false, description: 'e.g. 3.13.5 (optional when the artifact name says it)' }],
  schema: z
    .object({
      values: z.object({
        from: z.string().min(1).optional(),
        'checksum-url': z.string().min(1).optional(),
        sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits').optional(),
        prefix: z.string().min(1).optional(),
        ...stateValues,
        'no-link': z.boolean().optional(),
        'no-activate': z.boolean().optional(),
        'skip-validation': z.boolean().optional(),
        'install-system-deps': z.boolean().optional(),
        'ca-file': z.string().min(1).optional(),
      }),
      positionals: z.union([z.tuple([]), z.tuple([pythonVersionSchema])], { message: 'give at most one version, e.g. 3.13.5' }),
    })
    .refine((v) => v.positionals.length > 0 || v.values.from, { message: 'give a version, or the artifact with --from', path: ['positionals'] })
    .transform(({ values, positionals }) => ({ version: positionals[0], ...values })),
  examples: [
    'cpy install --from https://github.com/acme/cpy/releases/download/cpython-3.13.5-build1/cpython-3.13.5-debian12-build1.tgz',
    'cpy install 3.13.5 --from dist/artifacts/cpython-3.13.5-debian12-build1.tgz --prefix /opt/python-3.13.5',
    'cpy install 3.13.5        # again, offline: from the cache',
  ],
  async run(ctx) {
    const { input, io, style, json } = ctx;
    const options: InstallOptions = {
      ...(input.version ? { version: input.version } : {}),
      ...(input.from ? { artifactUrl: locate(io.cwd, input.from) } : {}),
      ...(input['checksum-url'] ? { checksumUrl: locate(io.cwd, input['checksum-url']) } : {}),
      ...(input.sha256 ? { sha256: input.sha256 } : {}),
      ...(input.prefix ? { installPrefix: resolve(io.cwd, input.prefix) } : {}),
      ...versionOptions(io.cwd, input),
      ...(input['no-link'] ? { binDir: null } : {}),
      activate: !input['no-activate'],
      skipValidation: Boolean(input['skip-validation']),
      installSystemDeps: Boolean(input['install-system-deps']),
      ...(input['ca-file'] ? { caFile: resolve(io.cwd, input['ca-file']) } : {}),
    };
    const r = await installPython(options, { onEvent: installProgress(ctx as CommandContext<unknown>) });
    if (!json) {
      const what = `CPython ${r.version} build ${r.build}`;
      const lines =
        r.status === 'already-installed'
          ? [`${style.ok('already installed')}: ${what} in ${r.prefix} (${r.durationMs} ms)`]
          : [`${style.ok(r.status)}: ${what} in ${r.prefix} (${(r.durationMs / 1000).toFixed(1)} s${r.fromCache ? ', from the cache' : ''})`, `  sha256 ${r.sha256}`];
      if (r.activated) lines.push(`  python3 -> ${r.python}`);
      for (const w of r.warnings) lines.push(style.bad(`  warning: ${w}`));
      io.stdout.write(lines.join('\n') + '\n');
    }
    return { exitCode: EXIT.ok, outcome: 'success', data: { install: r } };
  },
});

export const list = defineCommand({
  name: 'list',
  summary: summaryOf('list'),
  description: `Shows each installed version, its prefix and build, which one python3 runs (*) and which one rollback returns to. An install whose marker is missing or damaged is shown as broken (install it again to repair it). ${LAYOUT_HELP}`,
  options: { ...STATE_OPTIONS },
  positionals: [],
  schema: z.object({ values: z.object(stateValues), positionals: z.tuple([]) }).transform(({ values }) => values),
  async run({ input, io, style, json }) {
    const rows = await listInstalled(versionOptions(io.cwd, input));
    if (!json) {
      if (rows.length === 0) io.stdout.write('no CPython installed by cpy\n');
      for (const r of rows) {
        const flag = r.current ? style.ok('*') : ' ';
        const state = r.marker ? `build ${r.marker.build}  ${r.marker.artifact}` : style.bad('broken: no valid install marker');
        io.stdout.write(`${flag} ${r.version.padEnd(10)} ${r.prefix}  ${state}${r.previous ? '  (previous)' : ''}\n`);
      }
    }
    return { exitCode: EXIT.ok, outcome: 'success', data: { installed: rows } };
  },
});

const switchSchema = z
  .object({ values: z.object(stateValues), positionals: z.tuple([pythonVersionSchema], { message: 'give one installed version, e.g. 3.13.5' }) })
  .transform(({ values, positionals }) => ({ version: positionals[0], ...values }));

export const use = defineCommand({
  name: 'use',
  summary: summaryOf('use'),
  description: 'Points `current` at the version (one atomic rename) and each python3/pip3 link at its programs. The version left behind is what `cpy rollback` returns to.',
  options: { ...STATE_OPTIONS },
  positionals: [{ name: 'version', required: true, description: 'an installed version (see cpy list)' }],
  schema: switchSchema,
  async run({ input, io, json }) {
    const r = await useVersion(input.version, versionOptions(io.cwd, input));
    if (!json) io.stdout.write(r.from === r.version ? `already using ${r.version}\n` : `now using ${r.version} (${r.prefix})${r.from ? `; was ${r.from}` : ''}\n`);
    return { exitCode: EXIT.ok, outcome: 'success', data: { switched: r } };
  },
});

export const rollbackCommand = defineCommand({
  name: 'rollback',
  summary: summaryOf('rollback'),
  options: { ...STATE_OPTIONS },
  positionals: [],
  schema: z.object({ values: z.object(stateValues), positionals: z.tuple([]) }).transform(({ values }) => values),
  async run({ input, io, json }) {
    const r = await rollback(versionOptions(io.cwd, input));
    if (!json) io.stdout.write(`rolled back to ${r.version} (${r.prefix})${r.from ? `; was ${r.from}` : ''}\n`);
    return { exitCode: EXIT.ok, outcome: 'success', data: { switched: r } };
  },
});

export const uninstallCommand = defineCommand({
  name: 'uninstall',
  summary: summaryOf('uninstall'),
  description: 'Refuses the version python3 runs unless --force (which also removes its links). The cached artifact stays, so `cpy install <version>` can bring it back offline.',
  options: { ...STATE_OPTIONS, force: { type: 'boolean', description: 'remove it even if it is the current version' } },
  positionals: [{ name: 'version', required: true, description: 'an installed version (see cpy list)' }],
  schema: z
    .object({ values: z.object({ ...stateValues, force: z.boolean().optional() }), positionals: z.tuple([pythonVersionSchema], { message: 'give one installed version' }) })
    .transform(({ values, positionals }) => ({ version: positionals[0], ...values })),
  async run({ input, io, json }) {
    const r = await uninstall(input.version, { ...versionOptions(io.cwd, input), force: Boolean(input.force) });
    if (!json) io.stdout.write(`removed ${r.version} (${r.prefix})${r.wasCurrent ? '; python3 links removed' : ''}\n`);
    return { exitCode: EXIT.ok, outcome: 'success', data: { uninstalled: r } };
  },
});
