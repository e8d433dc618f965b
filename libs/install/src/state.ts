import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CpyError, SHA256_HEX_RE } from '@cpy/core';
import * as z from 'zod/mini';

/** The file inside an installed prefix that says what is installed there; written last, before the tree is renamed into place. */
export const MARKER_FILE = '.cpy-install.json';

export const markerSchema = z.object({
  schemaVersion: z.literal(1),
  version: z.string(),
  build: z.int(),
  sha256: z.string().check(z.regex(SHA256_HEX_RE)),
  artifact: z.string(),
  /** Where it came from (no credentials, no query). */
  source: z.string(),
  /** The prefix the artifact was built for; differs from the install prefix when relocated. */
  builtFor: z.string(),
  installedAt: z.string(),
  /** The pinned signer whose signature (on the index or the artifact) vouched for it; absent for unsigned installs. */
  signedBy: z.optional(z.string()),
});
export type InstallMarker = z.infer<typeof markerSchema>;

/** A JSON file that matches `schema`, or null when it is missing, not JSON, or does not match. */
export async function readJsonFile<T>(path: string, schema: z.ZodMiniType<T>): Promise<T | null> {
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The marker of an installed prefix, or null when there is none or it is not valid (a broken install). */
export function readMarker(prefix: string): Promise<InstallMarker | null> {
  return readJsonFile(join(prefix, MARKER_FILE), markerSchema);
}

const stateSchema = z.object({
  schemaVersion: z.literal(1),
  /** version -> its prefix */
  installs: z.record(z.string(), z.object({ prefix: z.string() })),
  /** The version used before the current one (for rollback). */
  previous: z.nullable(z.string()),
  /** Where the current version's links are: the bin dir the last install or use made them in (absent until one did). */
  binDir: z.optional(z.string().check(z.startsWith('/', 'not an absolute path'))),
});
export type InstallState = z.infer<typeof stateSchema>;

export const STATE_FILE = 'state.json';
export const CURRENT_LINK = 'current';

/**
 * The state: what is installed, and the version before the current one. None when there is no
 * state file yet; a file that is not JSON or not a state is CPY_INSTALL_BROKEN (as in install.sh),
 * never rewritten: every command that reads it refuses until it is moved aside.
 */
export async function readState(stateDir: string): Promise<InstallState> {
  const path = join(stateDir, STATE_FILE);
  // Only a state not there yet reads as empty: one this user may not read, or a --state-dir that is
  // a file, said "no CPython installed by cpy" (and use: "not installed").
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    if (error.code === 'EISDIR') throw brokenState(path, 'a directory', error);
    if (error.code === 'ENOTDIR') {
      throw new CpyError('CPY_INSTALL_STATE_UNREADABLE', `cannot read ${path}: ${stateDir} is not a directory`, {
        hint: 'give --state-dir (or CPY_HOME) a directory: the one cpy records installs in',
        cause: error,
        details: { path },
      });
    }
    const why = error.code === 'EACCES' || error.code === 'EPERM' ? 'this user may not read it' : (error.code ?? error.message);
    throw new CpyError('CPY_INSTALL_STATE_UNREADABLE', `cannot read ${path}: ${why}`, {
      hint: 'it records the installs of whoever made it: run as that user (sudo, for root\'s /var/lib/cpy), or give --state-dir (or CPY_HOME) of your own',
      cause: error,
      details: { path, errno: error.code },
    });
  });
  if (text === null) return { schemaVersion: 1, installs: {}, previous: null };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw brokenState(path, `not JSON: ${(cause as Error).message}`, cause);
  }
  const parsed = stateSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw brokenState(path, issue ? `${issue.path.join('.') || 'the document'}: ${issue.message}` : 'not a state');
}

function brokenState(path: string, problem: string, cause?: unknown): CpyError {
  return new CpyError('CPY_INSTALL_BROKEN', `${path} is not a cpy state file (${problem})`, {
    hint: `move it aside (mv ${path} ${path}.broken), then run again; the installed versions stay in place, and cpy install <version> records each again`,
    cause,
    details: { path, problem },
  });
}

/** The prefix `current` points at, or null. */
export async function currentPrefix(stateDir: string): Promise<string | null> {
  return readlink(join(stateDir, CURRENT_LINK)).catch(() => null);
}
