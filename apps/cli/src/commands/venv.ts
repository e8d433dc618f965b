import { resolve, sep } from 'node:path';
import { listVenvs, rollbackVenv, upgradeVenv, type UpgradeResult, type VenvEvent } from '@cpy/lifecycle';
import { versionRequestSchema } from '@cpy/install';
import * as z from 'zod';
import { EXIT, defineCommand, type CommandContext } from '../command.js';
import { locate } from '../location.js';
import { summaryOf } from './table.js';
import { stopOnSignals } from '../signals.js';
import { pinnedSigners, SIGNER_HELP, SIGNER_OPTIONS, signerOptions } from '../signer-option.js';

const STATE = {
  'state-dir': { type: 'string', valueName: '<dir>', description: 'where cpy records installs: which cpy version a venv is based on, and the target of an upgrade' },
} as const;
/** `path` as a shell reads it back: as it is when it can be, else in single quotes. */
const shellWord = (path: string) => (/^[\w./+@:=-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`);

const stateValue = { 'state-dir': z.string().min(1).optional() };
const layout = (cwd: string, v: { 'state-dir'?: string | undefined }) => (v['state-dir'] ? { stateDir: resolve(cwd, v['state-dir']) } : {});
const progress = (ctx: CommandContext<unknown>) => (e: VenvEvent) => ctx.log(e.type === 'phase' ? `${e.phase}: ${e.detail}` : e.line);

export const venvUpgrade = defineCommand({
  name: 'venv upgrade',
  summary: summaryOf('venv upgrade'),
  description:
    "Reads the venv's distributions (importlib.metadata, the venv's own site-packages), makes a new venv beside it " +
    '(<venv>.cpy-next) on the target version (installed, or installed from the index with --index or CPY_INDEX_URL), ' +
    'installs the same distributions there (pip install --no-deps name==version: compiled extensions are rebuilt for the new ' +
    'version), and checks that every top-level module of them imports. Only then are the two directories swapped in one step ' +
    '(renameat2 RENAME_EXCHANGE), and the old venv is kept as <venv>.cpy-previous (cpy venv rollback swaps back). On any failure ' +
    'the venv is untouched, and the error names each distribution that failed and why. A venv whose python already is the target ' +
    '(the same interpreter: prefix, full version and ABI) is left as it is, and so is the venv an earlier upgrade kept: "already runs", exit 0. ' +
    'Only one old venv is kept: an upgrade of a venv upgraded before replaces the one kept then, and says so. What the venv holds ' +
    'that no distribution installed and venv did not make (a .pth in site-packages, a bin/my-hook, an etc/) is not carried over: ' +
    'the output names it, to copy from the kept venv. A venv that saw its base python\'s packages ' +
    '(include-system-site-packages) sees the new base\'s instead: the output lists those it no longer sees. A run killed at any point leaves the old ' +
    'venv or the new one in place (where renameat2 is missing, the fallback of three renames can leave it at <venv>.cpy-swap); ' +
    'the next cpy venv upgrade or rollback finishes or undoes what it left. Ctrl-C stops it, removing the new venv, until the swap begins ' +
    '(exit 1, CPY_VENV_CANCELLED); a second Ctrl-C exits at once (exit 130). The target installed from the index is checked as cpy install checks it. ' + SIGNER_HELP,
  options: {
    to: { type: 'string', valueName: '<version>', description: 'the CPython version to move to (3.13, 3.13.5)' },
    'find-links': { type: 'string', multiple: true, valueName: '<dir|url>', description: 'wheels and sources to install from (pip --find-links): a directory, or an http(s) page of links' },
    offline: { type: 'boolean', description: 'install only from --find-links, never from an index (pip --no-index)' },
    index: { type: 'string', valueName: '<url|file>', description: 'the cpy index, to install the target version when it is not installed' },
    'ca-file': { type: 'string', valueName: '<pem>', description: 'extra CA certificates for https (installing from the index)' },
    ...SIGNER_OPTIONS,
    exclude: { type: 'string', multiple: true, valueName: '<name>', description: 'a distribution to leave out of the new venv, e.g. one that does not support the new version' },
    ...STATE,
  },
  positionals: [{ name: 'venv', required: true, description: 'the venv directory (it holds pyvenv.cfg)' }],
  schema: z
    .object({
      values: z.object({
        to: versionRequestSchema,
        'find-links': z.array(z.string().min(1)).optional(),
        offline: z.boolean().optional(),
        index: z.string().min(1).optional(),
        'ca-file': z.string().min(1).optional(),
        signer: z.array(z.string()).transform(pinnedSigners).optional(),
        'trusted-keys': z.string().min(1).optional(),
        exclude: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a distribution name (letters, digits, . _ -)')).optional(),
        ...stateValue,
      }),
      positionals: z.tuple([z.string().min(1)], { message: 'give the venv: cpy venv upgrade .venv --to 3.13' }),
    })
    .transform(({ values, positionals }) => ({ ...values, venv: positionals[0] })),
  examples: ['cpy venv upgrade .venv --to 3.13', 'cpy venv upgrade .venv --to 3.13.5 --find-links wheelhouse --offline --json'],
  async run(ctx) {
    const { input, io, json, style } = ctx;
    // Ctrl-C (or SIGTERM) stops the upgrade and removes the new venv, until the swap begins; a
    // second one exits at once (the next run finishes or undoes what that leaves).
    const stop = stopOnSignals({ log: ctx.log, stopping: 'stopping the upgrade (Ctrl-C again to stop at once)...', force: () => process.exit(130) });
    let r: UpgradeResult;
    try {
      r = await upgradeVenv(resolve(io.cwd, input.venv), {
        to: input.to,
        ...(input['find-links'] ? { findLinks: input['find-links'].map((d) => (/^(https?|file):\/\//i.test(d) ? d : resolve(io.cwd, d))) } : {}),
        ...(input.offline ? { offline: true } : {}),
        ...(input.index ? { indexUrl: locate(io.cwd, input.index) } : {}),
        // Installed from the index as cpy install does: the same pinned signers, keys and CAs.
        install: { ...signerOptions(io.cwd, input), ...(input['ca-file'] ? { caFile: resolve(io.cwd, input['ca-file']) } : {}) },
        ...(input.exclude ? { exclude: input.exclude } : {}),
        ...layout(io.cwd, input),
        env: io.env,
        onEvent: progress(ctx as CommandContext<unknown>),
        signal: stop.signal,
      });
    } finally {
      stop.release();
    }
    const warning = `  ${style.warn('warning')}: `;
    // Run from inside the venv (cpy venv upgrade .), the shell's directory moved with the old venv
    // to .cpy-previous: `cpy venv rollback .` there would look beside the kept venv.
    const given = resolve(io.cwd, input.venv);
    const within = (dir: string) => io.cwd === dir || io.cwd.startsWith(`${dir}${sep}`);
    const inside = r.status === 'upgraded' && (within(given) || within(r.path));
    const venvWord = inside ? shellWord(r.path) : shellWord(input.venv);
    if (!json && r.status === 'already') {
      io.stdout.write(
        `${r.path} already runs CPython ${r.to} (${r.prefix}): nothing to do\n` +
          (input.exclude ? `  to remove a distribution from a venv on its own version: pip uninstall ${input.exclude.join(' ')}\n` : '') +
          (r.previous ? `  the venv an earlier upgrade kept is untouched in ${r.previous} (cpy venv rollback ${shellWord(input.venv)})\n` : ''),
      );
    } else if (!json) {
      io.stdout.write(
        `upgraded ${r.path}: Python ${r.from ?? '?'} -> ${r.to}, ${r.distributions.length} distribution${r.distributions.length === 1 ? '' : 's'} reinstalled and importing\n` +
          (r.leftBehind.length ? `${warning}not carried over from site-packages (no distribution owns them; copy them from the old venv if it needs them): ${r.leftBehind.join(', ')}\n` : '') +
          (r.notCarried.length
            ? `${warning}not carried over from outside site-packages (neither venv nor a distribution made them): ${r.notCarried.join(', ')}; they stay in the kept venv, ${r.previous}: copy them over by hand if the venv needs them\n`
            : '') +
          noLongerSeen(r.noLongerSeen) +
          (r.replaced
            ? `${warning}the venv an earlier upgrade kept (Python ${r.replaced.version ?? '?'}) was deleted: only one old venv is kept, now the one this upgrade replaced (Python ${r.from ?? '?'}), to which cpy venv rollback returns\n`
            : '') +
          (r.undeleted ? `${warning}the venv an earlier upgrade kept could not be deleted (${r.undeleted.why}): it is in ${r.undeleted.path}; delete it yourself\n` : '') +
          `  the old venv is kept in ${r.previous} (cpy venv rollback ${venvWord})\n` +
          (inside ? `${warning}this shell's directory moved with the old venv, to ${r.previous}: cd ${shellWord(r.path)} to be in the upgraded one\n` : ''),
      );
    }
    return { exitCode: EXIT.ok, outcome: 'success', data: { upgrade: r } };
  },
});

/** The lines that say what the old venv saw of its base's packages and the new one does not (--json lists every one). */
function noLongerSeen(seen: UpgradeResult['noLongerSeen']): string {
  const where = new Map<string, (typeof seen)[number][]>();
  for (const d of seen) where.set(d.location, [...(where.get(d.location) ?? []), d]);
  return [...where]
    .map(([location, dists]) => {
      const named = dists.slice(0, 8).map((d) => `${d.name} ${d.version}`);
      const more = dists.length > named.length ? `, and ${dists.length - named.length} more` : '';
      return `  no longer seen: ${dists.length} distribution${dists.length === 1 ? '' : 's'} of ${location} (${named.join(', ')}${more}), which the old venv saw through include-system-site-packages; pip install into the venv what it needs\n`;
    })
    .join('');
}

export const venvRollback = defineCommand({
  name: 'venv rollback',
  summary: summaryOf('venv rollback'),
  description:
    'Swaps the venv with the one its last upgrade kept (<venv>.cpy-previous), in one step: the exact old directory returns, and the upgraded one is kept in its place for a roll forward (run rollback again). ' +
    'When the upgraded venv was deleted, the kept one simply returns.',
  options: { ...STATE },
  positionals: [{ name: 'venv', required: true, description: 'the venv directory' }],
  schema: z
    .object({ values: z.object(stateValue), positionals: z.tuple([z.string().min(1)], { message: 'give the venv: cpy venv rollback .venv' }) })
    .transform(({ values, positionals }) => ({ ...values, venv: positionals[0] })),
  async run(ctx) {
    const { input, io, json, style } = ctx;
    const r = await rollbackVenv(resolve(io.cwd, input.venv), { ...layout(io.cwd, input), env: io.env, onEvent: progress(ctx as CommandContext<unknown>) });
    if (!json) {
      io.stdout.write(
        r.kept
          ? `rolled back ${r.path}: Python ${r.version ?? '?'} (was ${r.was ?? '?'}); the upgraded venv is kept in ${r.kept} (run rollback again to return to it)\n`
          : `rolled back ${r.path}: Python ${r.version ?? '?'} (the upgraded venv was gone: the kept one is back in its place)\n`,
      );
      if (r.baseMissing) io.stdout.write(`  ${style.warn('warning')}: its base interpreter is gone (${r.baseMissing}): it does not run until Python ${r.version ?? ''} is installed there again (cpy install ${r.version ?? '<version>'}), or run cpy venv upgrade to move it to another\n`);
    }
    return { exitCode: EXIT.ok, outcome: 'success', data: { rollback: r } };
  },
});

export const venvList = defineCommand({
  name: 'venv list',
  summary: summaryOf('venv list'),
  description: "Finds venvs (directories with a pyvenv.cfg) in the given directories (default: here), three levels deep, and shows each one's Python version and base. A venv whose base interpreter is gone (uninstalled or moved) is marked: it no longer runs.",
  options: { ...STATE },
  positionals: [{ name: 'dir', required: false, description: 'directories to search (default: the current one)' }],
  schema: z
    .object({ values: z.object(stateValue), positionals: z.array(z.string().min(1)) })
    .transform(({ values, positionals }) => ({ ...values, dirs: positionals })),
  async run({ input, io, style, json }) {
    const venvs = await listVenvs(input.dirs.length ? input.dirs.map((d) => resolve(io.cwd, d)) : [io.cwd], { ...layout(io.cwd, input), env: io.env });
    if (!json) {
      if (venvs.length === 0) io.stdout.write('no venvs found\n');
      for (const v of venvs) {
        const base = v.cpyVersion ? `cpy ${v.cpyVersion}` : (v.home ?? 'unknown base');
        io.stdout.write(`${v.path}  Python ${v.version ?? '?'}  ${base}${v.baseInstalled ? '' : `  ${style.bad('base no longer installed')}`}\n`);
      }
    }
    return { exitCode: EXIT.ok, outcome: 'success', data: { venvs } };
  },
});
