import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { extract as tarExtract } from 'tar-stream';
import { type ArtifactMetadata, artifactMetadataSchema, CpyError, METADATA_ENTRY } from '@cpy/core';
import { refuseLargeMetadata } from './extract.js';
import { indexEntryFor, type IndexEntry } from './artifact-index.js';
import { sha256File } from './hash.js';
import { openTar } from './open-tar.js';

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

/** An artifact file's metadata, checked: the `.json` beside it, else the tarball's first entry; null when neither is valid. */
export async function readArtifactFileMetadata(path: string): Promise<ArtifactMetadata | null> {
  const side = `${path}.json`;
  let raw: unknown = null;
  try {
    raw = existsSync(side) ? JSON.parse(await readFile(side, 'utf8')) : await readArtifactMetadata(path);
  } catch {
    return null;
  }
  const parsed = artifactMetadataSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

/**
 * The index entry of an artifact file on disk, to be served from `url`: its metadata (the
 * `.json` beside it, else the tarball's first entry), its sha256 (streamed) and its size. A signature
 * beside it (`<file>.asc`, cpy artifact sign) is taken to be served beside it too (`<url>.asc`).
 */
export async function indexEntryForFile(path: string, url: string, publishedAt?: Date): Promise<IndexEntry> {
  const metadata = await readArtifactFileMetadata(path);
  if (!metadata) {
    throw new CpyError('CPY_INDEX_NOT_AN_ARTIFACT', `${path} has no valid cpy metadata`, { hint: 'index an artifact made by cpy build or cpy artifact pack' });
  }
  const st = await stat(path).catch(() => null);
  if (!st?.isFile()) throw new CpyError('CPY_INDEX_NOT_AN_ARTIFACT', `${path} is not a file`, { hint: 'give the .tgz made by cpy build' });
  const signed = await stat(`${path}.asc`).then(
    (s) => s.isFile(),
    () => false,
  );
  return indexEntryFor(metadata, {
    file: basename(path),
    url,
    sha256: await sha256File(path),
    size: st.size,
    ...(publishedAt ? { publishedAt } : {}),
    ...(signed ? { signatureUrl: `${url}.asc` } : {}),
  });
}
