import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { copyFileAtomic, CpyError, parseVersion, pythonVersionSchema, SHA256_ANY_CASE_RE } from '@cpy/core';
import { fetchSource, readUserKeys, verifySourceRelease, type FetchedSource, type SourceVerification, type TrustedKey } from '@cpy/build';
import * as z from 'zod';
import { EXIT, defineCommand, type CommandContext, type OptionSpec } from '../command.js';
import { summaryOf } from './table.js';
import { createProgress, formatBytes } from '../progress.js';
import { stopOnSignals } from '../signals.js';
import type { Style } from '../io.js';
import { readyDirectory } from '../location.js';

const sha256Schema = z.string().regex(SHA256_ANY_CASE_RE, 'must be a sha256 (64 hex digits)').transform((s) => s.toLowerCase());

const TRUST_OPTIONS = {
  'trusted-key': {
    type: 'string',
    multiple: true,
    valueName: '<file>',
    description: "armored OpenPGP public keys to trust besides the release manager's (a file of one or several, as python.org's pubkeys.txt)",
  },
  'allow-unsigned': {
    type: 'boolean',
    description: 'accept a source whose signature is missing (never one whose signature is wrong); recorded in the result',
  },
} as const satisfies Record<string, OptionSpec>;

const trustValues = {
  'trusted-key': z.array(z.string().min(1)).optional(),
  'allow-unsigned': z.boolean().optional(),
};

async function loadKeys(io: CommandContext<unknown>['io'], files: readonly string[] | undefined): Promise<TrustedKey[]> {
  return (await Promise.all((files ?? []).map((f) => readUserKeys(resolve(io.cwd, f))))).flat();
}

function warnUnsigned(ctx: CommandContext<unknown>, allow: boolean | undefined): void {
  if (allow) ctx.log('WARNING: --allow-unsigned: a source without a signature will be accepted, unverified; this is recorded.');
}

export function verificationLines(v: SourceVerification, style: Style): string[] {
  const lines: string[] = [`  sha256    ${v.sha256}`];
  if (v.openpgp) {
    const o = v.openpgp;
    lines.push(`  OpenPGP   ${style.ok('good signature')} by ${o.signer} (${o.fingerprint}${o.keyOrigin === 'user' ? ', added with --trusted-key' : ''}), made ${o.signedAt.slice(0, 10)}`);
  }
  if (v.sigstore) {
    const s = v.sigstore;
    lines.push(`  Sigstore  ${style.ok('verified')}: ${s.identity} via ${s.issuer}, logged ${s.signedAt.slice(0, 10)} (Rekor entry ${s.logIndex})`);
  }
  if (v.method === 'unsigned') lines.push(`  ${style.bad('UNVERIFIED')}: no signature was checked (--allow-unsigned)`);
  for (const w of v.warnings) if (v.method !== 'unsigned' || !/NOT verified/.test(w)) lines.push(`  ${style.warn('warning')}: ${w}`);
  return lines;
}

/** The options every command that fetches sources takes (source fetch, build). */
export const FETCH_OPTIONS = {
  mirror: { type: 'string', multiple: true, valueName: '<url|dir>', description: 'a python.org-style mirror: https://, file:// or a directory' },
  'cache-dir': { type: 'string', valueName: '<dir>', description: 'where verified sources are kept' },
  sha256: { type: 'string', valueName: '<hex>', description: 'the tarball must have this sha256 (a pin)' },
  'ca-file': { type: 'string', valueName: '<pem>', description: 'extra CA certificates for HTTPS mirrors and proxies' },
  refresh: { type: 'boolean', description: 'download again even when the cache has it' },
  ...TRUST_OPTIONS,
} as const satisfies Record<string, OptionSpec>;

export const fetchValues = {
  mirror: z.array(z.string().min(1)).optional(),
  'cache-dir': z.string().min(1).optional(),
  sha256: sha256Schema.optional(),
  'ca-file': z.string().min(1).optional(),
  refresh: z.boolean().optional(),
  ...trustValues,
};

type FetchValues = z.output<z.ZodObject<typeof fetchValues>>;

/** Fetches (and verifies) a source for a command, with progress and retry lines on stderr. */
export async function fetchForCommand(ctx: CommandContext<unknown>, version: string, input: FetchValues): Promise<FetchedSource> {
  const { io } = ctx;
  warnUnsigned(ctx, input['allow-unsigned']);
  const progress = createProgress(io);
  // Ctrl-C (or SIGTERM) stops the download, and the partial file goes with it (it was left in the
  // cache's tmp for an hour, and the command printed nothing); a second one exits at once.
  const stop = stopOnSignals({ log: ctx.log, stopping: 'stopping the download (Ctrl-C again to stop at once)...', force: () => process.exit(130) });
  let fetched: FetchedSource;
  try {
    fetched = await fetchSource(version, {
      signal: stop.signal,
      env: io.env,
      cwd: io.cwd,
      ...(input.mirror ? { mirrors: input.mirror } : {}),
      ...(input['cache-dir'] ? { cacheDir: resolve(io.cwd, input['cache-dir']) } : {}),
      ...(input.sha256 ? { expectedSha256: input.sha256 } : {}),
      ...(input['ca-file'] ? { caFile: resolve(io.cwd, input['ca-file']) } : {}),
      ...(input.refresh ? { refresh: true } : {}),
      ...(input['allow-unsigned'] ? { allowUnsigned: true } : {}),
      extraKeys: await loadKeys(io, input['trusted-key']),
      onProgress: (p) => progress.update(p),
      onRetry: (r) => {
        progress.done();
        ctx.log(`${r.url}: ${r.reason}; retrying in ${(r.delayMs / 1000).toFixed(1)} s (attempt ${r.attempt + 1})`);
      },
    });
  } catch (error) {
    if (!stop.signal.aborted) throw error;
    throw new CpyError('CPY_SOURCE_CANCELLED', `the fetch of CPython ${version} was stopped: nothing was kept of its download`, { hint: 'run the same command again' });
  } finally {
    stop.release();
    progress.done();
  }
  // Stopped while the source was read from the cache or verified, which the signal does not cut
  // short: the command stops here (cpy build went on to configure and make, and built to the end).
  if (stop.signal.aborted) {
    throw new CpyError('CPY_SOURCE_CANCELLED', `stopped once CPython ${version}'s source was verified (it is in the cache): nothing else was done`, {
      hint: 'run the same command again: the source comes from the cache',
    });
  }
  return fetched;
}

const fetchSchema = z
  .object({
    values: z.object({ ...fetchValues, output: z.string().min(1).optional() }),
    positionals: z.tuple([pythonVersionSchema], { message: 'give one version, e.g. 3.13.5' }),
  })
  .transform(({ values, positionals }) => ({ version: positionals[0], ...values }));

export const sourceFetch = defineCommand({
  name: 'source fetch',
  summary: summaryOf('source fetch'),
  description:
    'Downloads Python-<version>.tar.xz (or .tgz) with its .asc and .sigstore from the first mirror that has it (a copy that fails verification is not kept, and the next mirror is tried), ' +
    "verifies it offline (OpenPGP against the release manager's key shipped with cpy, Sigstore against the identity " +
    'python.org documents for the release line) and keeps it in the cache by sha256: a second fetch needs no network. ' +
    'Mirrors: --mirror, else $CPY_PYTHON_MIRRORS (space or comma separated), else https://www.python.org/ftp/python. ' +
    'Proxies: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY (read as curl reads them: NO_PROXY=10.0.0.0/8 is a range). Cache: --cache-dir, else $CPY_CACHE_DIR, else $XDG_CACHE_HOME/cpy or ~/.cache/cpy. ' +
    'Exit 0 when verified, 1 when the download or the verification failed.',
  options: {
    ...FETCH_OPTIONS,
    output: { type: 'string', short: 'o', valueName: '<dir>', description: 'also copy the tarball and its signatures into this directory' },
  },
  positionals: [{ name: 'version', required: true, description: 'a CPython release: 3.13.5, 3.14.0rc2' }],
  schema: fetchSchema,
  examples: ['cpy source fetch 3.13.5', 'cpy source fetch 3.13.5 --mirror /srv/python-mirror --json', 'cpy source fetch 3.13.5 -o ./src'],
  async run(ctx) {
    const { input, io, style, json } = ctx;
    // Before the download: a file where -o goes was said after it (EEXIST).
    if (input.output) await readyDirectory(resolve(io.cwd, input.output), 'write the source into', '-o, --output');
    const source = await fetchForCommand(ctx as CommandContext<unknown>, input.version, input);
    let copied: string | null = null;
    if (input.output) {
      const dir = resolve(io.cwd, input.output);
      const cannotWrite = (error: NodeJS.ErrnoException) =>
        new CpyError('CPY_CLI_CANNOT_WRITE', `cannot write the source into --output ${dir}: ${error.code ?? error.message}`, {
          hint: 'give a directory you can write to (it is made when missing), with room for the tarball; the verified source stays in the cache',
        });
      await mkdir(dir, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
        throw cannotWrite(error);
      });
      // Each file whole or not at all (a cut copy left a truncated tarball under its name, over a
      // good one); Ctrl-C waits for the copy under way, then removes what this run copied.
      const stop = stopOnSignals({ log: ctx.log, stopping: 'stopping: the copy under way is finished, then removed (Ctrl-C again to stop at once)...', force: () => process.exit(130) });
      const written: string[] = [];
      try {
        for (const suffix of ['', '.asc', '.sigstore']) {
          if (stop.signal.aborted) break;
          const to = resolve(dir, source.fileName + suffix);
          await copyFileAtomic(source.path + suffix, to).then(
            () => void written.push(to),
            (error: NodeJS.ErrnoException) => {
              if (suffix === '' || error.code !== 'ENOENT') throw cannotWrite(error);
            },
          );
        }
      } finally {
        stop.release();
      }
      if (stop.signal.aborted) {
        for (const file of written) await rm(file, { force: true });
        throw new CpyError('CPY_SOURCE_CANCELLED', `stopped while the source was copied into ${dir}: what this run copied there was removed (the verified source stays in the cache)`, { hint: 'run the same command again' });
      }
      copied = resolve(dir, source.fileName);
    }
    if (!json) {
      const where = source.fromCache ? style.dim('(from the cache, re-verified)') : `from ${source.url}`;
      io.stdout.write(
        [
          `${style.bold(source.fileName)}  ${formatBytes(source.bytes)}  ${where}`,
          ...verificationLines(source.verification, style),
          `  path      ${copied ?? source.path}`,
        ].join('\n') + '\n',
      );
    }
    const { verification, ...rest } = source;
    return { exitCode: EXIT.ok, outcome: 'success', data: { source: { ...rest, ...(copied ? { copiedTo: copied } : {}) }, verification } };
  },
});

const verifySchema = z
  .object({
    values: z.object({
      version: z.optional(pythonVersionSchema),
      asc: z.string().min(1).optional(),
      sigstore: z.string().min(1).optional(),
      ...trustValues,
    }),
    positionals: z.tuple([z.string().min(1)], { message: 'give one file, e.g. Python-3.13.5.tar.xz' }),
  })
  .transform(({ values, positionals }) => ({ file: positionals[0], ...values }));

async function readOptional(path: string, explicit: boolean): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (!explicit && (error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CpyError('CPY_CLI_CANNOT_READ', `cannot read ${path}: ${(error as Error).message}`, { hint: 'check the path' });
  }
}

export const sourceVerify = defineCommand({
  name: 'source verify',
  summary: summaryOf('source verify'),
  description:
    'Applies the same policy as `cpy source fetch` to a file you already have: the OpenPGP signature by the ' +
    "release line's manager is required up to 3.13, the Sigstore bundle from 3.14; a Sigstore bundle is " +
    'checked when present up to 3.13, and from 3.14 an .asc only with --trusted-key (no release manager key is pinned for it; a warning says so), which does not stand in for the bundle (only --allow-unsigned forgives a missing one). Then, as fetch does, the release inside is read (its Include/patchlevel.h): another release the same manager signed, renamed, is CPY_SOURCE_WRONG_RELEASE. Signatures default to <file>.asc and <file>.sigstore beside the file. Works offline. ' +
    'Exit 0 when verified, 1 when not.',
  options: {
    version: { type: 'string', valueName: '<version>', description: 'the release (default: read from the file name Python-<version>.tar.xz)' },
    asc: { type: 'string', valueName: '<file>', description: 'the OpenPGP signature (default: <file>.asc, if present)' },
    sigstore: { type: 'string', valueName: '<file>', description: 'the Sigstore bundle (default: <file>.sigstore, if present)' },
    ...TRUST_OPTIONS,
  },
  positionals: [{ name: 'file', required: true, description: 'the source tarball' }],
  schema: verifySchema,
  examples: ['cpy source verify Python-3.13.5.tar.xz', 'cpy source verify src.tar.xz --version 3.13.5 --asc src.tar.xz.asc --json'],
  async run(ctx) {
    const { input, io, style, json } = ctx;
    warnUnsigned(ctx as CommandContext<unknown>, input['allow-unsigned']);
    const file = resolve(io.cwd, input.file);
    const there = await stat(file).catch(() => null);
    // A directory was read as one (EISDIR, reported as a bug in cpy).
    if (!there?.isFile()) throw new CpyError('CPY_CLI_CANNOT_READ', `${file} ${there ? 'is not a file' : 'does not exist'}`, { hint: 'give the path of a source tarball' });
    const named = /^Python-(.+?)\.(?:tar\.xz|tgz)$/.exec(basename(file))?.[1];
    const versionText = input.version ?? named;
    const version = versionText ? parseVersion(versionText) : null;
    // A signature covers the bytes, not the release they are: its name and --version disagreeing is said.
    if (input.version && named && named !== input.version) {
      ctx.log(`warning: ${basename(file)} is named for ${named}, and is verified as ${input.version} (--version): the signatures show who made the file, not which release it is`);
    }
    if (!version) {
      throw new CpyError('CPY_CLI_USAGE', `cannot tell the version of ${basename(file)}`, {
        hint: 'name the file Python-<version>.tar.xz, or pass --version 3.13.5',
      });
    }
    // As cpy source fetch checks it: the signatures, then which release is inside.
    const verification = await verifySourceRelease({
      file,
      version,
      fileName: basename(file),
      asc: await readOptional(input.asc ? resolve(io.cwd, input.asc) : `${file}.asc`, Boolean(input.asc)),
      sigstore: await readOptional(input.sigstore ? resolve(io.cwd, input.sigstore) : `${file}.sigstore`, Boolean(input.sigstore)),
      extraKeys: await loadKeys(io, input['trusted-key']),
      ...(input['allow-unsigned'] ? { allowUnsigned: true } : {}),
    });
    if (!json) {
      const verdict = verification.method === 'unsigned' ? style.bad('NOT VERIFIED') : style.ok(`verified (${verification.method})`);
      io.stdout.write([`${style.bold(basename(file))}  ${verdict}`, ...verificationLines(verification, style)].join('\n') + '\n');
    }
    return { exitCode: EXIT.ok, outcome: 'success', data: { file, verification } };
  },
});
