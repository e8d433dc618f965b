import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CpyError, SHA256_ANY_CASE_RE } from '@cpy/core';
import {
  installOptionsSchema,
  installPython,
  linksMoved,
  listAvailable,
  listInstalled,
  readPythonVersionFile,
  repairHint,
  rollback,
  uninstall,
  useVersion,
  installedVersionSchema,
  versionRequestSchema,
  type InstallEvent,
  type InstallOptions,
  type VersionOptions,
} from '@cpy/install';
import * as z from 'zod/mini';
import { EXIT, defineCommand, type CommandContext } from '../command.js';
import { locate } from '../location.js';
import { pinnedSigners, SIGNER_HELP, SIGNER_OPTIONS, signerOptions } from '../signer-option.js';
import { flagUsageError } from '../usage.js';
import { summaryOf } from './table.js';
import { createProgress, formatBytes } from '../progress.js';
import { stopOnSignals } from '../signals.js';

const LAYOUT_HELP =
  'Defaults: as root /opt/python-<version>, links in /usr/local/bin, state in /var/lib/cpy; otherwise under ' +
  '$XDG_DATA_HOME/cpy (default ~/.local/share/cpy), ~/.local/bin and $XDG_STATE_HOME/cpy (default ~/.local/state/cpy). ' +
  'CPY_HOME puts all three under one directory; artifacts are cached by sha256 in <CPY_CACHE_DIR>/artifacts ' +
  '(default $XDG_CACHE_HOME/cpy, else ~/.cache/cpy).';

const STATE_OPTIONS = {
  'bin-dir': { type: 'string', valueName: '<dir>', description: 'where python3, python, pip3, pip... are linked (default: where the last install or use linked them, else $CPY_HOME/bin when CPY_HOME is set, /usr/local/bin as root, ~/.local/bin otherwise); another one moves the links there' },
  'state-dir': { type: 'string', valueName: '<dir>', description: 'where cpy records installs and the current version' },
} as const;

/** A flag's value that must not be empty. */
const optionalText = z.optional(z.string().check(z.minLength(1)));
/**
 * A directory: not empty, and no ~ that reached cpy unexpanded (--prefix=~/py: a shell expands ~
 * only at the start of a word), which would be a directory named ~ under this one.
 */
const optionalDir = z.optional(
  z.string().check(
    z.minLength(1),
    z.refine((v) => !v.startsWith('~'), { message: 'cpy does not expand ~ (a shell does only at the start of a word: --prefix ~/py, not --prefix=~/py); give $HOME/... or the whole path' }),
  ),
);

/** An artifact given where the version goes (cpy install ./x.tgz) is told where it goes. */
const notAnArtifact = z.string().check(
  z.refine((v) => !/(\.tgz|\.tar\.gz|\.tar\.zst)$|^[a-z]+:\/\//i.test(v), { message: 'an artifact, not a version: give it with --from (cpy install --from <file|url>)' }),
);

const stateValues = {
  'bin-dir': optionalDir,
  'state-dir': optionalDir,
};

function versionOptions(cwd: string, values: { 'bin-dir'?: string | undefined; 'state-dir'?: string | undefined }): VersionOptions {
  return {
    ...(values['bin-dir'] ? { binDir: resolve(cwd, values['bin-dir']) } : {}),
    ...(values['state-dir'] ? { stateDir: resolve(cwd, values['state-dir']) } : {}),
  };
}

const signerValues = {
  signer: z.optional(z.pipe(z.array(z.string()), z.transform(pinnedSigners))),
  'trusted-keys': optionalText,
};

/** The options of `cpy list` that only `--available` reads. */
const AVAILABLE_ONLY = ['index', 'ca-file', 'signer', 'trusted-keys', 'install-tk'] as const;

const SIGNED_WHAT = { index: 'the index, whose sha256 it matches', artifact: 'the artifact', cache: 'verified when it was downloaded' } as const;

/** Phases as log lines; the download as a bar; extraction as a percentage on a terminal. */
function installProgress(ctx: CommandContext<unknown>) {
  const bar = createProgress(ctx.io);
  let file = 'artifact';
  let lastPct = -1;
  let downloading = false;
  return (event: InstallEvent) => {
    if (event.type === 'download') {
      downloading = event.total !== null && event.received < event.total;
      return bar.update({ file, received: event.received, total: event.total });
    }
    if (event.type === 'extract') {
      // A .tgz is unpacked as it downloads: the download's bar speaks for both until it is complete.
      if (downloading) return;
      if (lastPct < 0) bar.done();
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
    } else if (event.type === 'waiting') ctx.log(`waiting for another install of ${event.on} (${event.holder})`);
    else ctx.log(`warning: ${event.message}`);
  };
}

export const install = defineCommand({
  name: 'install',
  summary: summaryOf('install'),
  description:
    'A version (3.13, 3.13.5, 3, latest, or a pre-release by name) is resolved with the index (--index, or CPY_INDEX_URL; ' +
    'cpy publish keeps it on the cpy-index release): among the newest active builds, the one for this distribution, else one ' +
    "whose glibc floor fits and whose system packages exist in this system's archive (asked before downloading). With no " +
    'version and no --from, the version comes from the nearest .python-version (this directory, then upward). --from ' +
    'installs a given artifact instead. The expected sha256 comes from the index (or --sha256, --checksum-url, or ' +
    '<artifact>.sha256 beside it); an artifact this host cannot run is refused before anything is extracted; the download ' +
    'streams into the cache while it is hashed; the tree is extracted beside the prefix, checked, and renamed into place. ' +
    'A second run returns at once; a full version already installed needs no network. Without an index, the newest cached ' +
    'build of the version is installed, offline (builds for this architecture and distribution first). Ctrl-C stops it, removing what it staged, until the tree is in place ' +
    `(exit 1, CPY_INSTALL_CANCELLED); a second Ctrl-C exits at once (exit 130). ${SIGNER_HELP} ${LAYOUT_HELP}`,
  options: {
    index: { type: 'string', valueName: '<url|file>', description: 'the index to resolve the version with (default CPY_INDEX_URL)' },
    from: { type: 'string', valueName: '<url|file>', description: 'the artifact (.tgz): https://, http://, file:// or a path' },
    'checksum-url': { type: 'string', valueName: '<url|file>', description: 'its sha256sum line (default <artifact>.sha256)' },
    sha256: { type: 'string', valueName: '<hex>', description: 'the expected sha256, instead of a checksum file' },
    prefix: { type: 'string', valueName: '<dir>', description: 'where to install (default: see above)' },
    ...STATE_OPTIONS,
    'no-link': { type: 'boolean', description: 'do not create or change python3/pip3 links (nor make this current where they run the current version)' },
    'no-activate': { type: 'boolean', description: 'install, but keep the current version as it is' },
    'skip-validation': { type: 'boolean', description: 'do not check the new python3 before putting it in place (it still runs: to relocate a tree installed away from its build prefix, and to write the install record)' },
    'install-system-deps': { type: 'boolean', description: 'install missing system libraries (critical ones, curses, gdbm) with apt-get/dnf/apk (root)' },
    'install-tk': { type: 'boolean', description: "also install tkinter's Tcl/Tk libraries (pulls in X11)" },
    'ca-file': { type: 'string', valueName: '<pem>', description: 'extra CA certificates for https' },
    ...SIGNER_OPTIONS,
  },
  positionals: [{ name: 'version', required: false, description: 'e.g. 3.13, 3.13.5 or latest (default: .python-version, or the artifact name)' }],
  schema: z.pipe(
    z.object({
      values: z.object({
        index: optionalText,
        from: optionalText,
        'checksum-url': optionalText,
        sha256: z.optional(z.string().check(z.regex(SHA256_ANY_CASE_RE, 'must be 64 hex digits'))),
        prefix: optionalDir,
        ...stateValues,
        'no-link': z.optional(z.boolean()),
        'no-activate': z.optional(z.boolean()),
        'skip-validation': z.optional(z.boolean()),
        'install-system-deps': z.optional(z.boolean()),
        'install-tk': z.optional(z.boolean()),
        'ca-file': optionalText,
        ...signerValues,
      }),
      positionals: z.union([z.tuple([]), z.tuple([z.pipe(notAnArtifact, versionRequestSchema)])], { message: 'give at most one version, e.g. 3.13 or 3.13.5' }),
    })
      // Two answers to one question: the checksum file was never read (a missing one was not said).
      .check(z.refine((v) => !(v.values.sha256 && v.values['checksum-url']), { message: 'cannot go with --sha256 (both give the expected sha256): give one', path: ['values', 'checksum-url'] })),
    z.transform(({ values, positionals }) => ({ version: positionals[0], ...values })),
  ),
  examples: [
    'cpy install 3.13 --index https://github.com/acme/python-builds/releases/download/cpy-index/index.json',
    'CPY_INDEX_URL=https://github.com/acme/python-builds/releases/download/cpy-index/index.json cpy install   # the version in .python-version',
    'cpy install --from dist/artifacts/cpython-3.13.5-debian12-build1.tgz --prefix /opt/python-3.13.5',
    'cpy install 3.13.5        # again, offline: already installed, or from the cache',
    'cpy install 3.13 --index https://github.com/acme/python-builds/releases/download/cpy-index/index.json --signer 3F2A9C1D0B8E7F6A5D4C3B2A19080706F5E4D3C2   # the fingerprint cpy keys export prints: refuse anything that key did not sign',
  ],
  async run(ctx) {
    const { input, io, style, json } = ctx;
    let version = input.version;
    if (!version && !input.from) {
      const found = await readPythonVersionFile(io.cwd);
      if (!found) {
        throw new CpyError('CPY_CLI_USAGE', 'which version? Give one (cpy install 3.13), or the artifact with --from; no .python-version was found here or above', {
          hint: 'e.g. cpy install 3.13 --index <url>, or echo 3.13 > .python-version',
        });
      }
      ctx.log(`version ${found.version}, from ${found.file}`);
      version = found.version;
    }
    const options: InstallOptions = {
      ...(version ? { version } : {}),
      ...(input.index ? { indexUrl: locate(io.cwd, input.index) } : {}),
      ...(input.from ? { artifactUrl: locate(io.cwd, input.from) } : {}),
      ...(input['checksum-url'] ? { checksumUrl: locate(io.cwd, input['checksum-url']) } : {}),
      ...(input.sha256 ? { sha256: input.sha256 } : {}),
      ...(input.prefix ? { installPrefix: resolve(io.cwd, input.prefix) } : {}),
      ...versionOptions(io.cwd, input),
      ...(input['no-link'] ? { binDir: null } : {}),
      activate: !input['no-activate'],
      skipValidation: Boolean(input['skip-validation']),
      installSystemDeps: Boolean(input['install-system-deps']),
      installTk: Boolean(input['install-tk']),
      ...(input['ca-file'] ? { caFile: resolve(io.cwd, input['ca-file']) } : {}),
      ...signerOptions(io.cwd, input),
    };
    const checked = installOptionsSchema.safeParse(options);
    if (!checked.success) throw flagUsageError('install', checked.error.issues, options, INSTALL_FLAGS);
    // Ctrl-C (or SIGTERM) stops the install and removes what it staged, until its tree is in
    // place; a second one exits at once (the next run clears what that leaves).
    const stop = stopOnSignals({ log: ctx.log, stopping: 'stopping the install (Ctrl-C again to stop at once)...', force: () => process.exit(130) });
    let r: Awaited<ReturnType<typeof installPython>>;
    try {
      r = await installPython(options, { onEvent: installProgress(ctx as CommandContext<unknown>), env: io.env, signal: stop.signal });
    } finally {
      stop.release();
    }
    if (!json) {
      const what = `CPython ${r.version} build ${r.build}`;
      const lines =
        r.status === 'already-installed'
          ? [`${style.ok('already installed')}: ${what} in ${r.prefix} (${r.durationMs} ms)`]
          : [`${style.ok(r.status)}: ${what} in ${r.prefix} (${(r.durationMs / 1000).toFixed(1)} s${r.fromCache ? ', from the cache' : ''})`, `  sha256 ${r.sha256}`];
      if (r.resolution) lines.push(`  ${r.resolution.entry.file}: ${r.resolution.reason}`);
      if (r.signature) lines.push(`  signed by ${r.signature.fingerprint} (${SIGNED_WHAT[r.signature.covers]})`);
      if (r.activated) lines.push(input['no-link'] ? `  now the current version (no links: --no-link)` : `  python3 -> ${r.python}`);
      for (const w of r.warnings) lines.push(style.bad(`  warning: ${w}`));
      io.stdout.write(lines.join('\n') + '\n');
    }
    // Links made where the shell does not look (a user's ~/.local/bin before the next login on
    // Debian), or behind another python3: said, since `python3` would still run something else.
    const advice = r.activated && r.binDir ? pathAdvice(r.binDir, io.env['PATH'] ?? '') : null;
    if (advice) ctx.log(`note: ${advice}`);
    return { exitCode: EXIT.ok, outcome: 'success', data: { install: r } };
  },
});

/** What to tell a user whose PATH does not reach the python3 link in `binDir` first; null when it does. */
export function pathAdvice(binDir: string, path: string): string | null {
  const dirs = path.split(':').filter(Boolean).map((d) => resolve(d));
  const at = dirs.indexOf(resolve(binDir));
  if (at < 0) return `${binDir} is not on PATH: run ${join(binDir, 'python3')} by its path, or add it (export PATH="${binDir}:$PATH")`;
  const ours = realpathOrNull(join(binDir, 'python3'));
  const before = dirs.slice(0, at).find((d) => {
    const found = realpathOrNull(join(d, 'python3'));
    return found !== null && found !== ours;
  });
  return before ? `python3 on PATH is ${join(before, 'python3')}, which comes before ${binDir}: put ${binDir} first in PATH to run this one` : null;
}

function realpathOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

export const list = defineCommand({
  name: 'list',
  summary: summaryOf('list'),
  description:
    'Shows each installed version, its prefix and build, which one python3 runs (*) and which one rollback returns to. An install ' +
    'whose marker is missing or damaged is shown as broken, with what repairs it (cpy install replaces a tree whose marker is damaged; one whose marker is gone is deleted by hand first). With --available, lists what the index ' +
    '(--index, or CPY_INDEX_URL) publishes instead, optionally for one version (3.13), each build with whether it fits this host and ' +
    'why; > marks the build `cpy install <version>` chooses (listing every version: the one for each version). ' +
    LAYOUT_HELP,
  options: {
    // Not --bin-dir: listing neither reads nor moves the links.
    'state-dir': STATE_OPTIONS['state-dir'],
    available: { type: 'boolean', description: 'list the builds the index publishes, not the installed ones' },
    index: { type: 'string', valueName: '<url|file>', description: 'the index for --available (default CPY_INDEX_URL)' },
    'install-tk': { type: 'boolean', description: "with --available: count tkinter's libraries, as cpy install --install-tk does" },
    'ca-file': { type: 'string', valueName: '<pem>', description: 'extra CA certificates for https' },
    ...SIGNER_OPTIONS,
  },
  positionals: [{ name: 'version', required: false, description: 'with --available: only this version or release line (3.13)' }],
  schema: z.pipe(
    z
      .object({
        values: z.object({
          'state-dir': stateValues['state-dir'],
          available: z.optional(z.boolean()),
          index: optionalText,
          'install-tk': z.optional(z.boolean()),
          'ca-file': optionalText,
          ...signerValues,
        }),
        positionals: z.union([z.tuple([]), z.tuple([versionRequestSchema])], { message: 'give at most one version, e.g. 3.13' }),
      })
      .check(z.refine((v) => v.values.available || v.positionals.length === 0, { message: 'a version is only for --available', path: ['positionals'] }))
      // What the installed list cannot use is refused, as a version is: it was ignored without a word.
      .check(
        z.refine((v) => v.values.available || AVAILABLE_ONLY.every((name) => v.values[name] === undefined), {
          message: `${AVAILABLE_ONLY.map((n) => `--${n}`).join(', ')} are only for --available (what the index publishes)`,
          path: ['values'],
        }),
      ),
    z.transform(({ values, positionals }) => ({ ...values, version: positionals[0] })),
  ),
  examples: ['cpy list', 'cpy list --available 3.13 --index https://github.com/acme/python-builds/releases/download/cpy-index/index.json'],
  async run({ input, io, style, json, log }) {
    if (input.available) {
      const { source, builds, warnings } = await listAvailable({
        ...(input.version ? { version: input.version } : {}),
        ...(input.index ? { indexUrl: locate(io.cwd, input.index) } : {}),
        ...(input['ca-file'] ? { caFile: resolve(io.cwd, input['ca-file']) } : {}),
        ...signerOptions(io.cwd, input),
        // Where signed indexes read are recorded (rollback protection), as for cpy install.
        stateDir: versionOptions(io.cwd, input).stateDir,
        onWait: (holder, record) => log(`waiting for another install of ${record} (${holder})`),
        installTk: Boolean(input['install-tk']),
        env: io.env,
      });
      for (const message of warnings) log(`warning: ${message}`);
      if (!json) {
        io.stdout.write(`${source}\n`);
        if (builds.length === 0) io.stdout.write(`no builds${input.version ? ` of ${input.version}` : ''} in the index\n`);
        for (const b of builds) {
          const flag = b.chosen ? style.ok('>') : ' ';
          const verdict = b.fits ? style.ok('fits') : style.bad('does not fit');
          io.stdout.write(`${flag} ${b.entry.version.padEnd(10)} build ${String(b.entry.build).padEnd(3)} ${`${b.entry.os}${b.entry.osVersion}`.padEnd(10)} ${b.entry.arch.padEnd(8)} ${verdict}: ${b.why}\n`);
        }
      }
      return { exitCode: EXIT.ok, outcome: 'success', data: { source, available: builds, warnings } };
    }
    const rows = await listInstalled(versionOptions(io.cwd, input));
    if (!json) {
      if (rows.length === 0) io.stdout.write('no CPython installed by cpy\n');
      for (const r of rows) {
        const flag = r.current ? style.ok('*') : ' ';
        const state = r.holds
          ? style.bad(`broken: CPython ${r.holds} is installed there now`)
          : !r.marker
          ? style.bad('broken: no valid install marker')
          : r.damage
            ? style.bad(`broken: ${r.damage} is missing (build ${r.marker.build})`)
            : `build ${r.marker.build}  ${r.marker.artifact}`;
        io.stdout.write(`${flag} ${r.version.padEnd(10)} ${r.prefix}  ${state}${r.previous ? '  (previous)' : ''}\n`);
        if (!r.marker || r.damage) io.stdout.write(`             ${repairHint(r.version, r.prefix, r.holds)}\n`);
      }
    }
    // An install without a valid marker (its tree changed or half removed), or whose tree cannot
    // start (its python3 or stdlib gone), is said as such: `broken`.
    const broken = (r: (typeof rows)[number]) => r.marker === null || Boolean(r.damage);
    return { exitCode: EXIT.ok, outcome: 'success', data: { installed: rows.map((r) => ({ ...r, broken: broken(r), ...(broken(r) ? { repair: repairHint(r.version, r.prefix, r.holds) } : {}) })) } };
  },
});

/**
 * A state change (use, rollback, uninstall) runs to its end under its lock when Ctrl-C comes (its
 * python3 does, and the lock must outlive it): said, then its result; a second Ctrl-C exits at once.
 * While it waits for another install's lock, nothing has begun: Ctrl-C stops the wait (`signal`).
 */
async function finishing<T>(log: (line: string) => void, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = stopOnSignals({ log, stopping: 'stopping: a change already begun is finished first (under a second; Ctrl-C again to exit at once)', force: () => process.exit(130) });
  try {
    return await work(stop.signal);
  } finally {
    stop.release();
  }
}

const switchSchema = z.pipe(
  z.object({ values: z.object(stateValues), positionals: z.tuple([versionRequestSchema], { message: 'give one installed version, e.g. 3.13.5, or a release line: 3.13' }) }),
  z.transform(({ values, positionals }) => ({ version: positionals[0], ...values })),
);

export const use = defineCommand({
  name: 'use',
  summary: summaryOf('use'),
  description:
    'Points `current` at the version (one atomic rename) and each python3/pip3 link at its programs. A release line (3.13) or latest takes the newest installed version it names. The version left behind is what `cpy rollback` returns to.',
  options: { ...STATE_OPTIONS },
  positionals: [{ name: 'version', required: true, description: 'an installed version (see cpy list), or a release line: 3.13' }],
  schema: switchSchema,
  async run({ input, io, json, log }) {
    const r = await finishing(log, (signal) => useVersion(input.version, { ...versionOptions(io.cwd, input), signal }));
    const binDir = versionOptions(io.cwd, input).binDir ?? null;
    // Moved to another --bin-dir, the links are said as moved (they were "not all in place").
    const relinked = r.movedFrom && binDir ? `; its python3 links are now in ${binDir}` : r.relinked ? '; its python3 links were not all in place, and are now' : '';
    if (!json) io.stdout.write(r.from === r.version ? `already using ${r.version}${relinked}\n` : `now using ${r.version} (${r.prefix})${r.from ? `; was ${r.from}` : ''}\n`);
    if (r.movedFrom) log(`warning: ${linksMoved(r.movedFrom, binDir)}`);
    return { exitCode: EXIT.ok, outcome: 'success', data: { switched: r } };
  },
});

export const rollbackCommand = defineCommand({
  name: 'rollback',
  summary: summaryOf('rollback'),
  options: { ...STATE_OPTIONS },
  positionals: [],
  schema: z.pipe(
    z.object({ values: z.object(stateValues), positionals: z.tuple([]) }),
    z.transform(({ values }) => values),
  ),
  async run({ input, io, json, log }) {
    const r = await finishing(log, (signal) => rollback({ ...versionOptions(io.cwd, input), signal }));
    if (!json) io.stdout.write(`rolled back to ${r.version} (${r.prefix})${r.from ? `; was ${r.from}` : ''}\n`);
    if (r.movedFrom) log(`warning: ${linksMoved(r.movedFrom, versionOptions(io.cwd, input).binDir ?? null)}`);
    return { exitCode: EXIT.ok, outcome: 'success', data: { switched: r } };
  },
});

export const uninstallCommand = defineCommand({
  name: 'uninstall',
  summary: summaryOf('uninstall'),
  description:
    'Refuses the version python3 runs unless --force (which also removes its links). A release line (3.13) names the one version of it that is installed; with two or more, say which; a pre-release (3.14.0rc2) goes only by its own name, as for use. The cached artifact stays, so `cpy install <version>` can bring it back offline. A prefix with no valid install marker (deleted, or other files in its place) is not deleted: the version and its links are forgotten, the files stay, and a warning says so.',
  options: {
    ...STATE_OPTIONS,
    'bin-dir': { ...STATE_OPTIONS['bin-dir'], description: 'where its links are (default: where the last install or use made them; another one is refused: the links are removed where they are)' },
    force: { type: 'boolean', description: 'remove it even if it is the current version' },
  },
  positionals: [{ name: 'version', required: true, description: 'an installed version (see cpy list), or a release line of which one is installed: 3.13' }],
  schema: z.pipe(
    z.object({ values: z.object({ ...stateValues, force: z.optional(z.boolean()) }), positionals: z.tuple([installedVersionSchema], { message: 'give one installed version, e.g. 3.13.5, or a release line: 3.13' }) }),
    z.transform(({ values, positionals }) => ({ version: positionals[0], ...values })),
  ),
  async run({ input, io, json, log }) {
    const r = await finishing(log, (signal) => uninstall(input.version, { ...versionOptions(io.cwd, input), force: Boolean(input.force), signal }));
    const links = r.unlinked.length ? `; its links removed from ${r.binDir}: ${r.unlinked.join(', ')}` : '';
    if (!json) io.stdout.write(r.kept ? `forgot ${r.version}; its files stay in ${r.prefix}${links}\n` : `removed ${r.version} (${r.prefix})${links}\n`);
    for (const w of r.warnings) log(`warning: ${w}`);
    return { exitCode: EXIT.ok, outcome: 'success', data: { uninstalled: r } };
  },
});

/** The flag each install option comes from. */
const INSTALL_FLAGS: Record<string, string> = {
  version: 'the version',
  indexUrl: '--index',
  artifactUrl: '--from',
  checksumUrl: '--checksum-url',
  sha256: '--sha256',
  installPrefix: '--prefix',
  stateDir: '--state-dir',
  binDir: '--bin-dir',
  cacheDir: '--cache-dir',
  caFile: '--ca-file',
  signerFingerprints: '--signer',
  trustedKeysUrl: '--trusted-keys',
};

