import { existsSync } from 'node:fs';
import { chmod, lstat, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as z from 'zod/mini';
import {
  artifactFileName,
  type ArtifactMetadata,
  compareDotted,
  type Compression,
  CpyError,
  GLIBC_VERSION_RE,
  KEEP_BUILDS,
  keepNewest,
  newestFirst,
  parseArtifactFileName,
  pythonVersionSchema,
  retentionGroup,
  runtimeNeeds,
  SHA256_HEX_RE,
  sha256Hex,
  ATOMIC_TMP_INFIX,
  randomId,
  type LockOwner,
  makeDirectory,
  readSmallText,
  withLock,
  writeFileAtomic,
} from '@cpy/core';
import { namingPath, writeFault } from '@cpy/core/faults';

/**
 * The index: every published build, one JSON document with a versioned schema. `cpy publish`
 * keeps it as an asset of the repository's `cpy-index` release; installers resolve a version
 * (`3.13`) to the build that fits their host from it; ARTIFACTS.md is rendered from it.
 */
export const INDEX_SCHEMA_VERSION = 2;
/** The index's asset name on the index release, and its file name in a register folder. */
export const INDEX_FILE = 'index.json';
/** The publisher's public keys (ASCII-armored, concatenated), on the index release beside `index.json`. */
export const TRUSTED_KEYS_FILE = 'cpy-keys.asc';
export const INDEX_MARKDOWN = 'ARTIFACTS.md';
/** The fixed release that holds the index (never a cpython-* tag, never "latest"). */
export const INDEX_RELEASE_TAG = 'cpy-index';

const iso = z.iso.datetime({ offset: true });

/**
 * A URL both installers take: http(s) or file, and none of the characters the Dev Containers CLI
 * would pass unescaped to sh (the Feature's option rule; @cpy/install's OPTION_PATTERNS.url).
 */
export const SAFE_URL_RE = /^(https?|file):\/\/[A-Za-z0-9._~:/?#@&=+%,-]+$/;
/**
 * What else a URL needs for both installers to read it alike: each %-escape a printable ASCII
 * character other than `/` (%20 to %7E, not %2F), and a file URL on this machine. A file URL's
 * path and an artifact's file name are read decoded; a `%` that begins no escape, or a byte
 * outside ASCII, made Node's decodeURIComponent throw, and an escaped `/` is a path separator to
 * one reader and not to another. install.sh's location_ok applies the same rule.
 */
const URL_ESCAPES_RE = /%(?![2-7][0-9A-Fa-f])|%2[Ff]|%7[Ff]/;
export const URL_RULE_MESSAGE = 'its %-escapes must each stand for a printable ASCII character other than / (%20 to %7E), and a file URL must be on this machine (file:///path)';
export const urlReadAlike = (url: string): boolean => !URL_ESCAPES_RE.test(url) && !/^file:\/\/(?!\/|localhost\/)/.test(url);
const safeUrl = () =>
  z.string().check(z.regex(SAFE_URL_RE, 'must be an http(s) or file URL without spaces, quotes or shell metacharacters'), z.refine(urlReadAlike, URL_RULE_MESSAGE));
/** A package name as Debian, Ubuntu, Fedora or Alpine spell it (safe unquoted in sh). */
const PACKAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

export const indexEntrySchema = z.object({
  version: pythonVersionSchema,
  build: z.int().check(z.minimum(1)),
  /** os-release ID and VERSION_ID of the builder: `debian`, `12`. */
  os: z.string().check(z.regex(/^[a-z][a-z0-9._-]*$/)),
  osVersion: z.string().check(z.regex(/^[0-9][0-9a-z._-]*$/)),
  arch: z.string().check(z.regex(/^[a-z0-9_]+$/)),
  libc: z.enum(['glibc', 'musl']),
  /** The newest GLIBC_x.y symbol the tree needs; null for musl or when none. */
  glibcFloor: z.nullable(z.string().check(z.regex(GLIBC_VERSION_RE))),
  /** The artifact's file name (`cpython-3.13.5-debian12-build1.tgz`). */
  file: z.string(),
  /** Where it is downloaded from; its `.sha256` and `.json` sit beside it. */
  url: safeUrl(),
  sha256: z.string().check(z.regex(SHA256_HEX_RE)),
  size: z.int().check(z.nonnegative()),
  /**
   * The artifact's detached OpenPGP signature (`<url>.asc`), when it was published signed. An
   * installer that verified the index's own signature trusts `sha256` and needs not fetch it.
   */
  signatureUrl: z.optional(safeUrl()),
  /** The system libraries it needs and the packages that provide them (see runtimeNeeds). */
  needs: z.array(
    z.object({
      soname: z.string(),
      packages: z.array(z.string().check(z.regex(PACKAGE_RE, 'must be a package name'))),
      modules: z.array(z.string()),
      group: z.enum(['critical', 'optional', 'tk']),
    }),
  ),
  /** `active`: installable; `deprecated`: beyond the retention policy, kept for rollback; `removed`: its release is gone. */
  state: z.enum(['active', 'deprecated', 'removed']),
  publishedAt: iso,
});
export type IndexEntry = z.infer<typeof indexEntrySchema>;

export const artifactIndexSchema = z.object({
  schemaVersion: z.literal(INDEX_SCHEMA_VERSION),
  updatedAt: iso,
  artifacts: z.array(indexEntrySchema),
});
export type ArtifactIndex = z.infer<typeof artifactIndexSchema>;

export function emptyIndex(now = new Date()): ArtifactIndex {
  return { schemaVersion: INDEX_SCHEMA_VERSION, updatedAt: now.toISOString(), artifacts: [] };
}

/** Checks a parsed document; `source` names it in the error. */
export function parseIndex(json: unknown, source: string): ArtifactIndex {
  const version = (json as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (typeof version === 'number' && version !== INDEX_SCHEMA_VERSION) {
    throw new CpyError('CPY_INDEX_UNSUPPORTED', `${source} is a cpy index of schema version ${version}; this cpy reads version ${INDEX_SCHEMA_VERSION}`, {
      hint:
        version > INDEX_SCHEMA_VERSION
          ? 'update cpy (or the Feature) to read it'
          : 'it was written by an older cpy (the register of artifacts.json rows): make it again with cpy index add <artifact> --url <url> --index <file>',
    });
  }
  const parsed = artifactIndexSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CpyError('CPY_INDEX_INVALID', `${source} is not a cpy index: ${issue.path.join('.') || 'document'}: ${issue.message}`, {
      hint: 'point at the index.json cpy publish or cpy index add wrote',
    });
  }
  return parsed.data;
}

/** Parses index text (the bytes of a file or a download). */
export function parseIndexText(text: string, source: string): ArtifactIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new CpyError('CPY_INDEX_INVALID', `${source} is not JSON: ${(cause as Error).message}`, { hint: 'point at the index.json cpy publish or cpy index add wrote', cause });
  }
  return parseIndex(json, source);
}

export interface EntryLocation {
  readonly file: string;
  readonly url: string;
  readonly sha256: string;
  readonly size: number;
  readonly publishedAt?: Date;
  /** Where its detached signature is, when it is published signed. */
  readonly signatureUrl?: string;
  /** How the file is compressed, read from its first bytes, when it was read: its name must say the same. */
  readonly compression?: Compression;
}

/** What an artifact file name says of the build in it, as an index entry (or the metadata) spells it. */
export interface NamedBuild {
  readonly version: string;
  readonly build: number;
  readonly os: string;
  readonly osVersion: string;
  readonly arch: string;
  /**
   * How its file is compressed, from the file's first bytes: known where the file is read, not of
   * an index entry (whose file name is all it says of it).
   */
  readonly compression?: Compression;
}

/** A field an artifact file name says otherwise than the build it is the file of. */
export interface NameDifference {
  readonly field: keyof NamedBuild;
  readonly named: string;
  readonly actual: string;
}

/**
 * Where an artifact file name disagrees with the build it holds: [] when it agrees, null when it
 * is no artifact file name. The architecture always counts: a name without one says x86_64 by
 * the naming scheme (artifactFileName), so another architecture's build so named is misnamed.
 * The compression counts when the build's is known (`build.compression`, from the file's bytes):
 * installers choose how to read an artifact by its name (a .tgz is unpacked as it downloads).
 */
export function nameDifferences(file: string, build: NamedBuild): NameDifference[] | null {
  const named = parseArtifactFileName(file);
  if (!named) return null;
  const fields: (keyof NamedBuild)[] = ['version', 'os', 'osVersion', 'arch', 'build', ...(build.compression ? (['compression'] as const) : [])];
  return fields.filter((f) => String(named[f]) !== String(build[f])).map((f) => ({ field: f, named: String(named[f]), actual: String(build[f]) }));
}

/**
 * The entries whose file name says another build than their fields (an aarch64 entry's name
 * without an arch says x86_64), or is no artifact's name, in words. cpy index add and cpy publish
 * no longer write them (they read the artifact's own metadata); an index written before may hold
 * some. Readers take such an index as it is (the installers choose by the fields, install.sh as
 * the library), and cpy index show names them. An entry does not say how its file is compressed:
 * its name's extension is not checked here (it is where the file is read, checkArtifactName).
 */
export function misnamedEntries(index: ArtifactIndex): { readonly file: string; readonly said: string }[] {
  return index.artifacts.flatMap((e) => {
    const differences = nameDifferences(e.file, e);
    if (differences === null) return [{ file: e.file, said: `'${e.file}' is not an artifact file name` }];
    return differences.length > 0 ? [{ file: e.file, said: `${e.file} ${sayDifferences(differences, 'its entry')}` }] : [];
  });
}

/**
 * `says version 3.14.0 and build 2; <whose> says 3.13.5 and 1`: the differences, in a sentence;
 * a compression, which is the file's and not <whose>, in one of its own (`says zstd compression;
 * the file is gzip-compressed`).
 */
function sayDifferences(differences: readonly NameDifference[], whose: string): string {
  const list = (values: readonly string[]) => (values.length === 1 ? values[0] : `${values.slice(0, -1).join(', ')} and ${values.at(-1)}`);
  const fields = differences.filter((d) => d.field !== 'compression');
  const compression = differences.find((d) => d.field === 'compression');
  const sentences = [
    ...(fields.length > 0 ? [`says ${list(fields.map((d) => `${d.field} ${d.named}`))}; ${whose} says ${list(fields.map((d) => d.actual))}`] : []),
    ...(compression ? [`${fields.length > 0 ? 'It also says' : 'says'} ${compression.named} compression; the file is ${compression.actual}-compressed`] : []),
  ];
  return sentences.join('. ');
}

const namedBuildOf = (metadata: ArtifactMetadata): NamedBuild => ({
  version: metadata.version,
  build: metadata.build,
  os: metadata.platform.os,
  osVersion: metadata.platform.osVersion,
  arch: metadata.platform.arch,
});

/**
 * Why `file` is not the name of the artifact that holds `metadata` (a renamed copy), in words,
 * with the name it should have; null when it is. With `compression`, the file's own (read from
 * its first bytes), the name's extension must say it too: installers choose how to read it by
 * its name.
 */
export function artifactNameProblem(
  file: string,
  metadata: ArtifactMetadata,
  compression?: Compression,
): { readonly message: string; readonly hint: string; readonly details: Record<string, unknown> } | null {
  const build = { ...namedBuildOf(metadata), ...(compression ? { compression } : {}) };
  const differences = nameDifferences(file, build);
  if (differences?.length === 0) return null;
  let expected: string | null = null;
  try {
    expected = artifactFileName({ ...namedBuildOf(metadata), compression: compression ?? parseArtifactFileName(file)?.compression ?? 'gzip' });
  } catch {
    // Metadata no name can say is refused by the entry's schema after this.
  }
  const rename = expected ? `name it ${expected}, as cpy build did` : 'give it the name cpy build gave it';
  if (differences === null) {
    return {
      message: `'${file}' is not an artifact file name`,
      hint: `${rename}: cpython-<version>-<os><osversion>[-<arch>]-build<N>.tgz (.tar.zst for zstd), which installers choose by`,
      details: { file },
    };
  }
  return {
    message: `the name ${file} ${sayDifferences(differences, 'the metadata inside it')}`,
    hint: `${rename}: an artifact's name says what it holds, and installers go by both${
      differences.some((d) => d.field === 'compression') ? ' (they choose how to read it by its name: a .tgz is unpacked as it downloads)' : ''
    }`,
    details: { file, differences },
  };
}

/**
 * Refuses a file name that is not an artifact's, or that names another build than the metadata
 * it holds (a renamed copy): installers would install it for a version, build or architecture it
 * is not (CPY_ARTIFACT_MISNAMED). With `compression`, the name's extension must say it too.
 */
export function checkArtifactName(file: string, metadata: ArtifactMetadata, compression?: Compression): void {
  const problem = artifactNameProblem(file, metadata, compression);
  if (problem) throw new CpyError('CPY_ARTIFACT_MISNAMED', problem.message, { hint: problem.hint, details: problem.details });
}

/** The index entry of a packed artifact: everything an installer needs to choose it before downloading it. */
export function indexEntryFor(metadata: ArtifactMetadata, at: EntryLocation): IndexEntry {
  checkArtifactName(at.file, metadata, at.compression);
  const parsed = indexEntrySchema.safeParse({
    version: metadata.version,
    build: metadata.build,
    os: metadata.platform.os,
    osVersion: metadata.platform.osVersion,
    arch: metadata.platform.arch,
    libc: metadata.platform.libc,
    glibcFloor: metadata.platform.glibcFloor,
    file: at.file,
    url: at.url,
    ...(at.signatureUrl ? { signatureUrl: at.signatureUrl } : {}),
    sha256: at.sha256,
    size: at.size,
    needs: runtimeNeeds(metadata),
    state: 'active',
    publishedAt: (at.publishedAt ?? new Date()).toISOString(),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CpyError('CPY_INDEX_BAD_ENTRY', `${at.file} cannot be indexed: ${issue.path.join('.')}: ${issue.message}`, {
      hint: issue.path[0] === 'url' ? 'give a URL of letters, digits and . _ ~ : / ? # @ & = + % , - only' : 'index an artifact packed by this version of cpy',
    });
  }
  return parsed.data;
}

/** Newest version first; then build; then os, version and arch, for a stable order. */
export function compareEntries(a: IndexEntry, b: IndexEntry): number {
  return (
    newestFirst(a, b) ||
    a.os.localeCompare(b.os) ||
    compareDotted(b.osVersion, a.osVersion) ||
    a.arch.localeCompare(b.arch)
  );
}

const sameArtifact = (a: IndexEntry, b: IndexEntry) => a.file === b.file && a.arch === b.arch;

/**
 * The updatedAt of a changed index: now, or a millisecond after the index it replaces when this
 * clock is behind that one's. Installers refuse a signed index older than one they read before
 * (@cpy/install's checkIndexAge), so an update never goes back in time.
 */
function updatedAfter(index: ArtifactIndex, now: Date): string {
  const before = Date.parse(index.updatedAt);
  return new Date(Number.isNaN(before) ? now.getTime() : Math.max(now.getTime(), before + 1)).toISOString();
}

/**
 * Refuses an entry that would put other bytes under a file the index lists (a build packed again,
 * with --debug-symbols or --run-tests, under its old name): installers whose mirror or cache holds
 * the old bytes would then refuse them (a checksum mismatch), so it is done only when asked
 * (CPY_INDEX_REPLACES_BYTES), as cpy publish asks for --replace.
 */
export function refuseReplacedBytes(index: ArtifactIndex, entry: IndexEntry): void {
  const before = index.artifacts.find((e) => sameArtifact(e, entry));
  if (before && before.sha256 !== entry.sha256) {
    throw new CpyError('CPY_INDEX_REPLACES_BYTES', `the index lists ${entry.file} (${entry.arch}) with sha256 ${before.sha256}, and this file has sha256 ${entry.sha256}`, {
      hint: 'give the new build its own build number (cpy build --build <N+1>), or replace the listed bytes knowingly with --replace (caches and mirrors holding the old ones then refuse them)',
      details: { file: entry.file, listed: before.sha256, given: entry.sha256 },
    });
  }
}

/**
 * Adds an entry, or replaces the one with the same file name and architecture. The same bytes
 * (sha256) added again, at another URL or signed now, keep the date they were first published:
 * cpy outdated ages builds by it. Entries stay sorted, newest first.
 */
export function addEntry(index: ArtifactIndex, entry: IndexEntry, now = new Date()): ArtifactIndex {
  const checked = indexEntrySchema.parse(entry);
  const before = index.artifacts.find((e) => sameArtifact(e, checked));
  const dated = before && before.sha256 === checked.sha256 && Date.parse(before.publishedAt) < Date.parse(checked.publishedAt) ? { ...checked, publishedAt: before.publishedAt } : checked;
  return { ...index, updatedAt: updatedAfter(index, now), artifacts: [...index.artifacts.filter((e) => !sameArtifact(e, checked)), dated].sort(compareEntries) };
}

export interface RetentionPlan {
  /** Entries that stay active. */
  readonly keep: readonly IndexEntry[];
  /** Entries that become deprecated (their releases may be pruned). */
  readonly deprecate: readonly IndexEntry[];
  readonly index: ArtifactIndex;
}

/**
 * BR-005, core's one retention policy applied to the index: the last `keep` builds (default
 * KEEP_BUILDS, 3) of each release line, per os, os version and architecture, stay active; older
 * active ones become deprecated. Removed entries take no part. Pure.
 */
export function planRetention(index: ArtifactIndex, keep = KEEP_BUILDS): RetentionPlan {
  const live = index.artifacts.filter((e) => e.state !== 'removed');
  const plan = keepNewest(live, retentionGroup, keep);
  const deprecate = new Set(plan.drop.filter((e) => e.state === 'active'));
  const artifacts = index.artifacts.map((e) => (deprecate.has(e) ? { ...e, state: 'deprecated' as const } : e));
  return { keep: plan.keep.sort(compareEntries), deprecate: [...deprecate].sort(compareEntries), index: { ...index, artifacts } };
}

/** Marks the entries `gone` selects as removed (their releases were deleted). */
export function markRemoved(index: ArtifactIndex, gone: (e: IndexEntry) => boolean, now = new Date()): ArtifactIndex {
  return { ...index, updatedAt: updatedAfter(index, now), artifacts: index.artifacts.map((e) => (gone(e) ? { ...e, state: 'removed' as const } : e)) };
}

/**
 * Where the table of an index file goes: ARTIFACTS.md beside index.json; beside another index
 * file (`py.json`), a file of its own name (`py.md`), so two indexes in one directory do not
 * overwrite each other's table.
 */
export function indexMarkdownPath(indexPath: string): string {
  const name = basename(indexPath);
  return join(dirname(indexPath), name === INDEX_FILE ? INDEX_MARKDOWN : `${name.replace(/\.json$/, '')}.md`);
}

/** ARTIFACTS.md: the seeds' table, rendered from the index (`source`: the index file's name). */
export function renderIndexMarkdown(index: ArtifactIndex, source: string = INDEX_FILE): string {
  const packages = (e: IndexEntry) => [...new Set(e.needs.filter((n) => n.group !== 'tk').flatMap((n) => n.packages))].join(' ') || '-';
  return [
    '# Artifacts',
    '',
    `Generated by cpy from ${source} (schema version ${INDEX_SCHEMA_VERSION}, updated ${index.updatedAt}); do not edit by hand.`,
    '',
    '| version | build | distro | arch | glibc | published | file | size | sha256 | runtime packages | state |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...index.artifacts.map(
      (e) =>
        `| ${e.version} | ${e.build} | ${e.os}${e.osVersion} | ${e.arch} | ${e.glibcFloor ?? '-'} | ${e.publishedAt.slice(0, 10)} | [${e.file}](${e.url}) | ${(e.size / 2 ** 20).toFixed(1)} MiB | \`${e.sha256}\` | ${packages(e)} | ${e.state} |`,
    ),
    '',
  ].join('\n');
}

/** The index as written: two-space JSON and a final newline. */
export function serializeIndex(index: ArtifactIndex): string {
  return JSON.stringify(artifactIndexSchema.parse(index), null, 2) + '\n';
}

/** Reads an index file; a missing file is an empty index. */
export async function readIndexFile(path: string): Promise<ArtifactIndex> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyIndex();
    throw new CpyError('CPY_INDEX_INVALID', `cannot read the index ${path}: ${(error as Error).message}`, {
      hint: (error as NodeJS.ErrnoException).code === 'EISDIR' ? `give the index file, e.g. ${join(path, INDEX_FILE)}` : 'check the path and its permissions',
      cause: error,
    });
  }
  return parseIndexText(text, path);
}

/** `work`'s error, named for `path` when Node names no file (a write: a full disk said "cannot write: no space left"). */
async function naming(path: string, work: Promise<void>): Promise<void> {
  await work.catch((error: unknown) => {
    throw namingPath(error, path);
  });
}

/** Errors of writeIndexFile thrown once the index itself was replaced (its table could not follow). */
const afterIndex = new WeakSet<object>();

/**
 * Writes an index file, and ARTIFACTS.md beside it, each atomically (temporary file, then rename):
 * the table is written aside first, the index renamed into place, then the table: a failure before
 * the index's rename leaves both as they were (replaceIndexFile then puts the index's signature
 * back: it still signs those bytes); a table whose rename fails after it leaves the new index and
 * the old table, and the error names the table. The table went in first, and described an index
 * that was then never written. An index that is a symbolic link is written through it (the file a
 * site serves); each file keeps its permissions (writeFileAtomic).
 */
export async function writeIndexFile(path: string, index: ArtifactIndex, options: { markdown?: boolean } = {}): Promise<void> {
  const table = indexMarkdownPath(path);
  const aside = options.markdown ?? true ? `${table}${ATOMIC_TMP_INFIX}${randomId()}` : null;
  let written = false;
  try {
    if (aside) {
      // (Its directory made first, as writeFileAtomic makes the index's: a new site's first index.)
      await makeDirectory(dirname(table));
      await naming(table, writeFile(aside, renderIndexMarkdown(index, basename(path))));
      const old = await stat(table).catch(() => null);
      // What would refuse the table's rename, in the same directory as the index's, is a directory
      // where it goes: said before the index changes (a new index beside its old signature otherwise).
      if (old?.isDirectory()) throw Object.assign(new Error(`EISDIR: illegal operation on a directory, rename '${aside}' -> '${table}'`), { code: 'EISDIR', path: table });
      if (old?.isFile()) await chmod(aside, old.mode & 0o777);
    }
    const target = (await lstat(path).catch(() => null))?.isSymbolicLink() ? await realpath(path) : path;
    await naming(target, writeFileAtomic(target, serializeIndex(index)));
    written = true;
    if (aside) {
      await rename(aside, table).catch((error: unknown) => {
        // Node names the temporary file (ARTIFACTS.md.tmp-...) that could not be renamed; the table is what was not written.
        throw Object.assign(error as Error, { path: table });
      });
    }
  } catch (error) {
    if (written && typeof error === 'object' && error !== null) afterIndex.add(error);
    throw error;
  } finally {
    if (aside) await rm(aside, { force: true });
  }
}

/**
 * Writes a changed index file (writeIndexFile) whose signature beside it (`<path>.asc`, signed by
 * hand or by cpy artifact sign) signs its old bytes: installers that pin a signer would refuse the
 * new ones as altered. The signature is moved aside first, put back if the write fails (it still
 * signs the file then), else removed; a reader may find the index unsigned for a moment, never
 * beside a signature of other bytes. Says which signature it removed (null: there was none), for
 * the caller to ask for a new one.
 */
export async function replaceIndexFile(path: string, index: ArtifactIndex): Promise<{ signatureRemoved: string | null }> {
  const signature = `${path}.asc`;
  // The sha256 of the index's bytes as they are, read once (null: there is no index), when asked.
  let digest: Promise<string | null> | null = null;
  const indexDigest = () =>
    (digest ??= readFile(path).then(
      (bytes) => sha256Hex(bytes),
      () => null,
    ));
  await restoreSignatureAside(path, indexDigest);
  const signed = await stat(signature).then(
    (s) => s.isFile(),
    () => false,
  );
  // Named for the bytes it signs: a run killed before it put the signature back or removed it
  // (Ctrl-C) left it aside for good, the index unsigned; the next run tells which it was.
  // (A signature with no index beside it, as a register can hold, signs none of its bytes: all zeros, never put back.)
  const aside = signed ? `${signature}${SIGNATURE_ASIDE}${(await indexDigest()) ?? '0'.repeat(64)}` : '';
  if (signed) await rename(signature, aside);
  try {
    await writeIndexFile(path, index);
  } catch (error) {
    if (!(typeof error === 'object' && error !== null && afterIndex.has(error))) {
      if (signed) await rename(aside, signature);
      throw error;
    }
    // The index was replaced before its table failed: the signature signs none of its bytes now.
    if (signed) await rm(aside, { force: true });
    const table = indexMarkdownPath(path);
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new CpyError('CPY_INDEX_TABLE_NOT_WRITTEN', `${path} was updated${signed ? ` (${signature}, which signed it as it was, removed)` : ''}, but its table ${table} could not be replaced: ${why}`, {
      hint: `make ${table} writable (or remove what stands there), then run the same command again: it writes both${signed ? `; then sign the index again: cpy artifact sign ${path}` : ''}`,
      cause: error,
      details: { index: path, table, signatureRemoved: signed ? signature : null },
    });
  }
  if (signed) await rm(aside, { force: true });
  return { signatureRemoved: signed ? signature : null };
}

/** A signature moved aside while its index is replaced: `<index>.asc.cpy-old-<sha256 of the bytes it signs>`. */
const SIGNATURE_ASIDE = '.cpy-old-';

/**
 * What a killed replaceIndexFile left: a signature aside whose index still has the bytes it signs
 * goes back beside it (the index was not changed); one whose index changed, or that was signed
 * again since, is removed. `indexDigest`: the sha256 of the index's bytes (null: no index).
 */
async function restoreSignatureAside(path: string, indexDigest: () => Promise<string | null>): Promise<void> {
  const signature = `${path}.asc`;
  const prefix = `${basename(signature)}${SIGNATURE_ASIDE}`;
  const left = (await readdir(dirname(path)).catch(() => [] as string[])).filter((n) => n.startsWith(prefix) && SHA256_HEX_RE.test(n.slice(prefix.length)));
  if (left.length === 0) return;
  const now = await indexDigest();
  for (const name of left) {
    const aside = join(dirname(path), name);
    if (name.slice(prefix.length) === now && !existsSync(signature)) await rename(aside, signature);
    else await rm(aside, { force: true });
  }
}

const INDEX_LOCK: LockOwner = {
  code: 'CPY_INDEX_BUSY',
  stopped: 'CPY_INDEX_CANCELLED',
  holds: 'cpy index add',
  whenHeld: (path) => `wait for it to finish, then run again; if no cpy is running there, remove ${path}`,
};

/** How long an index update waits for another one of the same file. */
const INDEX_LOCK_WAIT_MS = 60_000;

/**
 * Runs `work` (a signature of the file at `path` being made and written) holding the lock cpy index
 * add takes when `path` is an index (a .json file that reads as one): a signature made while an add
 * replaced the index signed its old bytes and was written beside the new ones, which installers then
 * refused as altered. Another file is not locked. A wait is stopped by `signal` (Ctrl-C).
 */
export async function withIndexUnchanged<T>(path: string, work: () => Promise<T>, options: { onWait?: (holder: string) => void; signal?: AbortSignal } = {}): Promise<T> {
  const text = path.endsWith('.json') ? await readSmallText(path, 64 * 1024 * 1024).catch(() => null) : null;
  let index = false;
  try {
    index = text !== null && parseIndexText(text, path) !== null;
  } catch {
    // Not an index (an artifact's metadata, another JSON file): nothing to hold.
  }
  return index ? withIndexLock(path, options, work) : work();
}

/**
 * Runs `work` holding `<path>.lock`, waiting up to a minute for another holder (CPY_INDEX_BUSY
 * after), or until `signal`. A lock its directory's disk refuses (read-only, full, not this user's
 * to write) is that disk's error, as writing beside the index would have met it.
 */
async function withIndexLock<T>(path: string, options: { onWait?: (holder: string) => void; signal?: AbortSignal }, work: () => Promise<T>): Promise<T> {
  const lock = { timeoutMs: INDEX_LOCK_WAIT_MS, ...(options.onWait ? { onWait: options.onWait } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  return withLock(INDEX_LOCK, `${path}.lock`, lock, work).catch((error: unknown) => {
    const cause = (error as { cause?: unknown }).cause;
    if (error instanceof CpyError && error.code === 'CPY_INDEX_BUSY' && writeFault(cause)) throw cause;
    throw error;
  });
}

/**
 * Reads an index file, changes it (`change` gives the new index and what the caller wants back)
 * and writes it (replaceIndexFile), holding `<path>.lock` throughout: two updates of one file at
 * once (cpy index add in a loop's background jobs, parallel CI jobs) each wrote what it had read,
 * and the entries of the first were lost. Another holder is waited for up to a minute
 * (CPY_INDEX_BUSY after).
 */
export async function updateIndexFile<T>(
  path: string,
  change: (index: ArtifactIndex) => { index: ArtifactIndex; result: T },
  options: { onWait?: (holder: string) => void; signal?: AbortSignal } = {},
): Promise<T & { signatureRemoved: string | null }> {
  return withIndexLock(path, options, async () => {
    const { index, result } = change(await readIndexFile(path));
    const { signatureRemoved } = await replaceIndexFile(path, index);
    return { ...result, signatureRemoved };
  });
}
