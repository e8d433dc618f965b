import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { extract as tarExtract } from 'tar-stream';
import { type ArtifactMetadata, artifactMetadataSchema, checksumFileName, type Compression, CpyError, displayUrl, isCpyError, METADATA_ENTRY, parseChecksumLine, rejectedNoteName } from '@cpy/core';
import { compressionOf } from './archive.js';
import { refuseLargeMetadata } from './extract.js';
import { checkArtifactName, indexEntryFor, type IndexEntry } from './artifact-index.js';
import { sha256File } from './hash.js';
import { openTar } from './open-tar.js';
import { TarReader } from './tar-read.js';

// Reading an artifact's metadata and single entries without unpacking it: what installers,
// the index and publishing need, apart from validation (validate.ts), which needs everything.

/** Reads the metadata entry, which packers put first, without extracting anything else. */
export async function readArtifactMetadata(archive: string): Promise<unknown> {
  let text: string | null = null;
  const extractor = tarExtract();
  const source = await openTar(archive);
  await new Promise<void>((resolve, reject) => {
    extractor.on('entry', (header, stream, next) => {
      if (header.name !== METADATA_ENTRY) {
        source.destroy();
        resolve();
        return;
      }
      try {
        refuseLargeMetadata(header);
      } catch (error) {
        source.destroy();
        reject(error);
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c) => void chunks.push(c as Buffer));
      stream.on('end', () => {
        text = Buffer.concat(chunks).toString('utf8');
        source.destroy();
        resolve();
        next();
      });
    });
    extractor.on('finish', resolve);
    extractor.on('error', reject);
    source.on('error', reject);
    source.pipe(extractor);
  });
  return parseMetadataEntry(text, archive);
}

/** The metadata entry's JSON (not yet checked against the schema); `text` null: the archive does not start with it. */
export function parseMetadataEntry(text: string | null, archive: string): unknown {
  if (text === null) throw notAnArtifact(archive, `the first entry is not ${METADATA_ENTRY}`);
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw notAnArtifact(archive, `${METADATA_ENTRY} is not JSON: ${(cause as Error).message}`, cause);
  }
}

function notAnArtifact(archive: string, message: string, cause?: unknown): CpyError {
  return new CpyError('CPY_ARTIFACT_NOT_AN_ARTIFACT', message, {
    hint: 'give an artifact made by cpy build or cpy artifact pack',
    cause,
    details: { archive },
  });
}

/** One file entry of an artifact (e.g. its LICENSE), read without extracting anything; null when it has none of that name. */
export async function readArtifactEntry(archive: string, name: string): Promise<Uint8Array | null> {
  let found: Buffer | null = null;
  const extractor = tarExtract();
  const source = await openTar(archive);
  await new Promise<void>((resolve, reject) => {
    extractor.on('entry', (header, stream, next) => {
      if (header.name !== name || header.type !== 'file') {
        stream.on('end', next);
        stream.resume();
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c) => void chunks.push(c as Buffer));
      stream.on('end', () => {
        found = Buffer.concat(chunks);
        source.destroy();
        resolve();
      });
    });
    extractor.on('finish', resolve);
    extractor.on('error', reject);
    source.on('error', reject);
    source.pipe(extractor);
  });
  return found;
}

/**
 * An artifact file's own metadata (its first entry, streamed), as publishing trusts it: its name
 * is checked against it and against the file's compression (CPY_ARTIFACT_MISNAMED), and the
 * `.json` beside it (uploaded with it, read by installers before they download) against it
 * (CPY_INDEX_BAD_ENTRY), as for the index; CPY_INDEX_NOT_AN_ARTIFACT when it has none. A stale
 * `.json` was taken as it was, and set the release's tag and build number.
 */
export async function readArtifactFileMetadata(path: string): Promise<ArtifactMetadata> {
  const { metadata, raw, compression } = await embeddedMetadata(path);
  checkArtifactName(basename(path), metadata, compression);
  await checkSideMetadata(path, raw);
  return metadata;
}

/**
 * The index entry of an artifact file on disk, to be served from `url`: its metadata, its sha256
 * (streamed) and its size. A signature beside it (`<file>.asc`, cpy artifact sign) is taken to be
 * served beside it too (`<url>.asc`).
 *
 * The metadata is the artifact's own (its first entry, streamed), never the `.json` beside it nor
 * its name: those are copies, and an index that believed a renamed or stale one would send
 * installers a build they did not ask for. Both are checked against it: the name must say its
 * version, os, os version, architecture (none for x86_64) and build, and by its extension the
 * file's compression, read from its first bytes (CPY_ARTIFACT_MISNAMED); a `.json` beside it,
 * which installers read before they download, must be the same metadata (CPY_INDEX_BAD_ENTRY).
 */
export async function indexEntryForFile(path: string, url: string, publishedAt?: Date): Promise<IndexEntry> {
  const st = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') {
      throw new CpyError('CPY_ARTIFACT_NOT_FOUND', `no artifact ${path}`, { hint: 'give the path of a cpython-<version>-<os><osversion>-build<N>.tgz made by cpy build', cause: error });
    }
    throw new CpyError('CPY_INDEX_NOT_AN_ARTIFACT', `cannot read ${path}: ${error.code ?? error.message}`, { hint: 'check the path and its permissions', cause: error });
  });
  if (!st.isFile()) throw new CpyError('CPY_INDEX_NOT_AN_ARTIFACT', `${path} is not a file`, { hint: 'give the .tgz made by cpy build' });
  await refuseRejected(path);
  const { metadata, raw, compression } = await embeddedMetadata(path);
  checkArtifactName(basename(path), metadata, compression);
  await checkSideMetadata(path, raw);
  const signed = await stat(`${path}.asc`).then(
    (s) => s.isFile(),
    () => false,
  );
  const sha256 = await sha256File(path);
  await checkSideChecksum(path, sha256);
  refuseUrlOfAnotherFile(url, basename(path));
  await refuseIncompleteTree(path, metadata);
  return indexEntryFor(metadata, {
    file: basename(path),
    url,
    sha256,
    size: st.size,
    ...(publishedAt ? { publishedAt } : {}),
    // .asc after the path, not after a query string (a signed URL's ?X-Amz-Signature=...): where installers look for it.
    ...(signed ? { signatureUrl: Object.assign(new URL(url), { pathname: `${new URL(url).pathname}.asc` }).href } : {}),
    ...(compression ? { compression } : {}),
  });
}

/**
 * The archive holds the tree its metadata describes: as many files (and links) of as many bytes
 * (packArtifact counts them from the tree it packs). One that does not (its metadata alone, a tree cut short, one repacked by
 * hand) was listed, and every install of it then failed (CPY_INDEX_NOT_AN_ARTIFACT). Read through
 * once, headers only; the bytes are not kept.
 */
export async function refuseIncompleteTree(path: string, metadata: ArtifactMetadata): Promise<void> {
  const root = metadata.prefix.replace(/^\/+|\/+$/g, '');
  let files = 0;
  let bytes = 0;
  const reader = new TarReader((header) => {
    if (header.type !== 'directory' && header.name !== METADATA_ENTRY) {
      files++;
      bytes += header.size;
    }
    return null;
  });
  let source: Awaited<ReturnType<typeof openTar>> | null = null;
  try {
    source = await openTar(path);
    for await (const chunk of source) reader.push(chunk as Buffer);
    reader.end();
  } catch (error) {
    if (isCpyError(error, 'CPY_ARTIFACT_NO_ZSTD')) throw error;
    throw new CpyError('CPY_INDEX_NOT_AN_ARTIFACT', `${path} cannot be read to its end: ${(error as Error).message}`, { hint: 'the file is damaged: pack it again (cpy artifact pack) or build it again', cause: error });
  } finally {
    source?.destroy();
  }
  const { files: said, bytes: saidBytes } = metadata.contents;
  if (files !== said || bytes !== saidBytes) {
    throw new CpyError('CPY_INDEX_NOT_AN_ARTIFACT', `${path} holds ${files} file${files === 1 ? '' : 's'} of ${bytes} bytes, where its metadata says ${said} files of ${saidBytes} bytes under ${root}/: the tree is missing or incomplete, and no installer could install it`, {
      hint: 'index the .tgz cpy build or cpy artifact pack wrote, as it wrote it',
      details: { files, bytes, expectedFiles: said, expectedBytes: saidBytes },
    });
  }
}

/**
 * The URL an entry gives must end in its file's name: installers name the download by the URL's
 * last segment (and read its version, system and build from it), so a URL of another file (a
 * loop's variable, a copy and paste) was listed, then failed every install with a checksum
 * mismatch (CPY_INDEX_BAD_ENTRY).
 */
function refuseUrlOfAnotherFile(url: string, fileName: string): void {
  let parsed: URL | null;
  let last = '';
  try {
    parsed = new URL(url);
    last = decodeURIComponent(parsed.pathname.split('/').pop() ?? '');
  } catch {
    parsed = null;
  }
  if (last !== fileName) {
    throw new CpyError('CPY_INDEX_BAD_ENTRY', `the URL ${parsed ? displayUrl(parsed) : url} names ${last ? `the file ${last}` : 'no file'}, not ${fileName}: installers would download it under that name and refuse it`, {
      hint: `give the URL the artifact is served at, ending in /${fileName}`,
    });
  }
}

/**
 * Refuses an artifact that `rejected/` holds, its checks failed (`<name>.rejected` beside it):
 * CPY_ARTIFACT_REJECTED, with the note's first reason. Publishing and indexing call it.
 */
export async function refuseRejected(path: string): Promise<void> {
  const note = join(dirname(path), rejectedNoteName(basename(path)));
  // Only no note is none: one there that cannot be read (a directory, not this user's) still says
  // the checks failed (it let the artifact be published).
  const text = await readFile(note, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : ''));
  if (text === null) return;
  const reasons = text.split('\n').slice(1).map((l) => l.trim().replace(/^FAIL /, '')).filter(Boolean);
  const said = reasons.length ? `: ${reasons[0]}${reasons.length > 1 ? `, and ${reasons.length - 1} more` : ''}` : '';
  throw new CpyError('CPY_ARTIFACT_REJECTED', `${basename(path)} failed its checks when it was packed${said} (${note})`, {
    hint: `fix what ${basename(note)} names and build again; if the machine that checked it was wrong, check it where it is meant to run (cpy artifact validate ${path}) and then remove ${basename(note)}`,
  });
}

/**
 * The `.sha256` beside an artifact (or a side asset), when there is one, must say its sha256
 * (streamed when not given): it is served beside it, and `cpy install --from` and `sha256sum -c`
 * check the file against it (CPY_INDEX_BAD_ENTRY).
 */
export async function checkSideChecksum(path: string, sha256?: string): Promise<void> {
  sha256 ??= await sha256File(path);
  const side = join(dirname(path), checksumFileName(basename(path)));
  const text = await readFile(side, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw new CpyError('CPY_INDEX_BAD_ENTRY', `cannot read ${side}: ${error.code === 'EISDIR' ? 'it is a directory' : (error.code ?? error.message)}`, { hint: 'remove it, or write it again: sha256sum <artifact> > <artifact>.sha256', cause: error });
  });
  if (text === null) return;
  const line = parseChecksumLine(text);
  const said = line ? `says sha256 ${line.sha256}` : 'is not a sha256sum line';
  const hint = `write it again (cd ${dirname(path)} && sha256sum ${basename(path)} > ${basename(side)}), or pack the artifact again (cpy artifact pack)`;
  if (line?.sha256 !== sha256) {
    throw new CpyError('CPY_INDEX_BAD_ENTRY', `${side} ${said}, but ${basename(path)} has sha256 ${sha256}: installers and sha256sum -c would refuse the artifact`, { hint });
  }
  const named = checksumNameProblem(line, basename(path));
  if (named) throw new CpyError('CPY_INDEX_BAD_ENTRY', `${side} ${named}`, { hint });
}

/**
 * Why a checksum line beside a published artifact is not the one of `fileName` by the name it
 * gives (sha256sum -c checks the file it names, and finds no line in a digest alone), in words;
 * null when it names that file. (Installers take a digest alone; what is published is held to
 * what `sha256sum -c` accepts.)
 */
export function checksumNameProblem(line: { readonly fileName: string | null }, fileName: string): string | null {
  if (!line.fileName) return `holds the sha256 alone: sha256sum -c reads "<sha256>  ${fileName}" lines, and says it finds none`;
  return line.fileName !== fileName ? `is the checksum of ${line.fileName}, not of ${fileName}: sha256sum -c would check that file, and installers refuse it` : null;
}

/**
 * The metadata entry of an artifact, checked (and as it was read, for comparing its copy with),
 * and how the file is compressed (its first bytes, as openTar read them).
 */
async function embeddedMetadata(path: string): Promise<{ metadata: ArtifactMetadata; raw: unknown; compression: Compression | undefined }> {
  const noMetadata = (reason: string, cause?: unknown) =>
    new CpyError('CPY_INDEX_NOT_AN_ARTIFACT', `${path} has no valid cpy metadata: ${reason}`, { hint: 'index an artifact made by cpy build or cpy artifact pack', cause });
  let raw: unknown;
  try {
    raw = await readArtifactMetadata(path);
  } catch (error) {
    // A missing zstd is this machine's, not the artifact's: said as it is.
    if (isCpyError(error, 'CPY_ARTIFACT_NO_ZSTD')) throw error;
    throw noMetadata((error as Error).message, error);
  }
  const parsed = artifactMetadataSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw noMetadata(`${METADATA_ENTRY}: ${issue.path.join('.') || 'document'}: ${issue.message}`);
  }
  // Read, it is gzip or zstd (openTar refuses anything else).
  return { metadata: parsed.data, raw, compression: (await compressionOf(path)) ?? undefined };
}

/** The first place two JSON values differ (`platform.osVersion`), with each side's value; null when they are the same. */
function firstDifference(a: unknown, b: unknown, path: string[] = []): { path: string; a: unknown; b: unknown } | null {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const key of keys) {
      const found = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], [...path, key]);
      if (found) return found;
    }
    return null;
  }
  return Object.is(a, b) ? null : { path: path.join('.') || 'document', a, b };
}

/** A JSON value in a message: short, and `missing` for one that is not there. */
const shown = (value: unknown): string => {
  if (value === undefined) return 'missing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/**
 * Refuses a `.json` beside the artifact that is not a copy of its metadata: installers read it
 * before they download the artifact (to refuse one that cannot fit early), so a stale one would
 * have them decide on a build that is not the one they get. Says whether there was one.
 */
export async function checkSideMetadata(path: string, embedded: unknown): Promise<boolean> {
  const side = `${path}.json`;
  const rewrite = `write it again from the artifact (tar -xOf ${path} ${METADATA_ENTRY} > ${side})`;
  let text: string;
  try {
    text = await readFile(side, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CpyError('CPY_INDEX_BAD_ENTRY', `cannot read ${side}, the metadata beside the artifact: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      hint: `check its permissions; it must be a copy of the artifact's metadata: ${rewrite}`,
      cause: error,
    });
  }
  let beside: unknown;
  try {
    beside = JSON.parse(text);
  } catch (cause) {
    throw new CpyError('CPY_INDEX_BAD_ENTRY', `${side}, the metadata beside the artifact, is not JSON: ${(cause as Error).message}`, { hint: rewrite, cause });
  }
  const difference = firstDifference(embedded, beside);
  if (difference) {
    throw new CpyError(
      'CPY_INDEX_BAD_ENTRY',
      `${side} disagrees with the metadata inside ${basename(path)}: ${difference.path} is ${shown(difference.b)} beside it, ${shown(difference.a)} inside`,
      {
        hint: `installers read the .json before they download the artifact, and the artifact's own metadata is the one that holds: ${rewrite}`,
        details: { artifact: path, metadata: side, field: difference.path },
      },
    );
  }
  return true;
}
