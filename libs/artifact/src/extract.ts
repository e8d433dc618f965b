import { chmodSync, closeSync, fchmodSync, fstatSync, futimesSync, lstatSync, mkdirSync, openSync, realpathSync, symlinkSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipped, openTar } from './open-tar.js';
import { TarReader, WAIT, type TarBody, type TarHeader } from './tar-read.js';
import { CpyError, makeDirectory, MAX_METADATA_BYTES, METADATA_ENTRY } from '@cpy/core';
import { namingPath, writeFault } from '@cpy/core/faults';

/**
 * How many bytes an installer unpacks of an artifact before it refuses it (CPY_ARTIFACT_UNSAFE_ENTRY):
 * what its metadata says, 1% and 1 MiB more. Validation unpacks with the same limit, so it never
 * passes an artifact every install then refuses.
 */
export function extractLimit(metadata: { readonly contents: { readonly bytes: number } }): number {
  return Math.ceil(metadata.contents.bytes * 1.01) + 1024 * 1024;
}

export interface ExtractOptions {
  /** An empty (or new) directory to extract into. */
  readonly dest: string;
  /** Only entries under this path (plus the metadata entry) are allowed, e.g. `opt/python-3.13.5`. */
  readonly root?: string;
  /** Refuse archives that unpack to more than this (default 4 GiB). */
  readonly maxBytes?: number;
  /** Called after each file is written. */
  readonly onProgress?: (progress: { files: number; bytes: number }) => void;
  /**
   * Decides, from the metadata entry that packers put first, where the tree is and how big it
   * may be, before any other entry is written: given the entry's text, or null when the archive
   * does not start with it. A throw stops the extraction. Its answer replaces root and maxBytes.
   */
  readonly admit?: (metadata: string | null) => Promise<{ root: string; maxBytes: number }>;
}

export interface ExtractResult {
  readonly files: number;
  readonly bytes: number;
  /** The metadata entry's text, when the archive has one. */
  readonly metadata: string | null;
}

/**
 * The errors of writing the tree (a full disk, a directory that cannot be written): the
 * destination's, thrown as they are (Node's errno errors), never as a damaged archive.
 */
const writing = new WeakSet<object>();

/** Whether `error`, thrown by extractArtifact, is the destination's disk's (full, read-only, not ours to write), not the archive's. */
export function isDestinationFault(error: unknown): boolean {
  return typeof error === 'object' && error !== null && writing.has(error);
}

/** Marks a write fault met on the destination as the disk's (isDestinationFault), and throws it on. */
function destinationFault(error: unknown): never {
  if (!(error instanceof CpyError) && writeFault(error)) writing.add(error as Error);
  throw error;
}

/** Runs `work` on the file at `path`; Node's error for a call on its descriptor (a write: a full disk) names it, as one on its path does. */
function naming(path: string, work: () => void): void {
  try {
    work();
  } catch (error) {
    throw namingPath(error, path);
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
}

/** An entry no artifact has (outside its tree, a device, too large...): the whole archive is refused. */
export function hostile(name: string, why: string): CpyError {
  return new CpyError('CPY_ARTIFACT_UNSAFE_ENTRY', `the archive entry '${name}' ${why}; nothing from this archive is trusted`, {
    hint: 'the artifact is damaged or malicious: do not install it; use an artifact published by your build pipeline',
    details: { entry: name },
  });
}

/**
 * The metadata entry is read whole into memory before the download's sha256 is known to match:
 * one larger than MAX_METADATA_BYTES (a real one is a few KiB) is refused unread.
 */
export function refuseLargeMetadata(header: { readonly name: string; readonly size?: number | null }): void {
  if ((header.size ?? 0) > MAX_METADATA_BYTES) throw hostile(header.name, `is ${header.size} bytes, more than the ${MAX_METADATA_BYTES} an artifact's metadata may be`);
}

/** The mode bits a new file in `dir` keeps of 0777: one made, looked at and removed. */
function keptModeBits(dir: string): number {
  const probe = join(dir, `.cpy-mode-${process.pid}-${Date.now()}`);
  const fd = openSync(probe, 'wx', 0o777);
  try {
    return fstatSync(fd).mode & 0o777;
  } finally {
    closeSync(fd);
    unlinkSync(probe);
  }
}

/** Whether a link target has a `..` after a name (`a/..`, `./a/../b`); leading ones do not count. */
function climbsAfterName(link: string): boolean {
  let named = false;
  for (const part of link.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') named = true;
    else if (named) return true;
  }
  return false;
}

function within(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Checks a tar entry name and returns its normalized relative path. */
function checkName(raw: string, root: string | undefined): string {
  const name = raw.replace(/\/+$/, '');
  if (!name || isAbsolute(name) || /^[a-zA-Z]:/.test(name)) throw hostile(raw, 'has an absolute path');
  const parts = name.split('/');
  if (parts.some((p) => p === '..')) throw hostile(raw, "climbs out with '..'");
  const normal = posix.normalize(name);
  if (root && normal !== METADATA_ENTRY && normal !== root && !normal.startsWith(`${root}/`) && !root.startsWith(`${normal}/`)) {
    throw hostile(raw, `is outside ${root}/`);
  }
  return normal;
}

/**
 * Extracts a .tgz safely: refuses absolute names, `..`, links that point out
 * of the destination, hard links, devices, and writing through a symlink;
 * drops setuid/setgid bits and ownership. The first hostile entry stops
 * everything with CPY_ARTIFACT_UNSAFE_ENTRY (the caller removes `dest`). An archive that cannot
 * be read is CPY_ARTIFACT_CORRUPT; a tree that cannot be written (ENOSPC, EDQUOT, EACCES,
 * EROFS...) is the file system's error, as Node gives it, for the caller to name.
 */
export async function extractArtifact(archive: string, options: ExtractOptions): Promise<ExtractResult> {
  return extractTar(() => openTar(archive), archive, options);
}

/**
 * extractArtifact for a .tgz that is still arriving (`gzipped`: its bytes as they come, from a
 * download being written). `label` names it in errors. (Typed without Node's stream types, so
 * that a consumer of the package needs no @types/node.)
 */
export function extractArtifactStream(gzipped: AsyncIterable<Uint8Array>, label: string, options: ExtractOptions): Promise<ExtractResult> {
  return extractTar(async () => gunzipped(gzipped instanceof Readable ? gzipped : Readable.from(gzipped)), label, options);
}

async function extractTar(open: () => Promise<Readable>, archive: string, options: ExtractOptions): Promise<ExtractResult> {
  const dest = resolve(options.dest);
  let realDest: string;
  let kept: number;
  // The destination's set-up: what fails here is its disk's too (a read-only work directory).
  try {
    await makeDirectory(dest);
    realDest = await realpath(dest);
    // open() gives a new file the mode asked for less what the umask (or a default ACL) strips;
    // fchmod is needed only where that strips bits the entry asks for (none of 0644 or 0755 under
    // the usual 022: about 2,500 system calls spared). process.umask() would set the mask to read
    // it, under the download's own writes.
    kept = keptModeBits(dest);
  } catch (error) {
    destinationFault(error);
  }
  let maxBytes = options.maxBytes ?? 4 * 1024 ** 3;
  let root = options.root;
  let admitted = !options.admit;
  let files = 0;
  let bytes = 0;
  let metadata: string | null = null;
  const dirTimes: [string, Date][] = [];
  /** The bytes an entry claims count toward the unpack limit (a link's too: they are read to be skipped). */
  const count = (header: { name: string; size: number }) => {
    bytes += header.size;
    if (bytes > maxBytes) throw hostile(header.name, `makes the archive unpack to more than ${maxBytes} bytes`);
  };

  // Directories this run created or checked: entries never delete, and a
  // symlink cannot replace an existing directory, so a checked one stays safe.
  // A directory is checked once its parent is: made (or found), then lstat'ed;
  // only a symlink on the way needs its real path. (A realpath per new
  // directory made an lstat or readlink per component: about 2,500 calls.)
  const safeDirs = new Set<string>([dest]);
  const safeDir = (dir: string, name: string): void => {
    if (safeDirs.has(dir)) return;
    if (!within(dest, dir)) throw hostile(name, 'resolves outside the destination');
    safeDir(dirname(dir), name);
    try {
      mkdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const st = lstatSync(dir);
    if (st.isSymbolicLink()) {
      if (!within(realDest, realpathSync.native(dir))) throw hostile(name, 'would be written through a symlink that leaves the destination');
    } else if (!st.isDirectory()) {
      throw new Error(`${name}: ${dir} is not a directory`);
    }
    safeDirs.add(dir);
  };
  const safeParent = (target: string, name: string) => safeDir(dirname(target), name);

  // The first entry decides the rest (admit): the metadata entry, read whole, or null when the
  // archive does not start with it. Every other entry waits for that answer.
  let first = true;
  let pending: { text: string | null } | null = null;
  /** The file being written, closed when its last byte is (or when the extraction stops). */
  let unfinished: number | null = null;
  const collect = (done: (text: string) => void): TarBody => {
    const pieces: Buffer[] = [];
    return { write: (piece) => void pieces.push(Buffer.from(piece)), end: () => done(Buffer.concat(pieces).toString('utf8')) };
  };
  const visit = (header: TarHeader): TarBody | null | typeof WAIT => {
    if (!admitted) {
      const metadataFirst = first && header.name === METADATA_ENTRY && header.type === 'file';
      first = false;
      if (metadataFirst) {
        refuseLargeMetadata(header);
        return collect((text) => {
          metadata = text;
          pending = { text };
        });
      }
      pending ??= { text: null };
      return WAIT;
    }
    const name = checkName(header.name, root);
    if (name === METADATA_ENTRY && header.type === 'file') {
      refuseLargeMetadata(header);
      return collect((text) => void (metadata = text));
    }
    const target = join(dest, ...name.split('/'));
    if (!within(dest, target)) throw hostile(header.name, 'resolves outside the destination');
    const mode = header.mode & 0o777;
    switch (header.type) {
      case 'directory': {
        safeParent(target, header.name);
        try {
          mkdirSync(target);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        if (!lstatSync(target).isDirectory()) throw hostile(header.name, 'replaces a link with a directory');
        safeDirs.add(target);
        chmodSync(target, mode | 0o700);
        dirTimes.push([target, header.mtime]);
        return null;
      }
      case 'file':
      case 'contiguous-file': {
        count(header);
        safeParent(target, header.name);
        // Written with synchronous calls on one descriptor as the bytes pass: no stream, promise
        // or thread-pool round trip per file.
        const fd = openSync(target, 'wx', mode);
        unfinished = fd;
        return {
          write: (piece) => naming(target, () => writeAll(fd, piece)),
          end: () => {
            naming(target, () => {
              if ((mode & kept) !== mode) fchmodSync(fd, mode);
              futimesSync(fd, header.mtime, header.mtime);
              unfinished = null;
              closeSync(fd);
            });
            files++;
            options.onProgress?.({ files, bytes });
          },
        };
      }
      case 'symlink': {
        count(header);
        const link = header.linkname ?? '';
        if (!link || isAbsolute(link)) throw hostile(header.name, `is a symlink to an absolute path (${link})`);
        // `s/..` is not where it reads once `s` is a link (made before or after this one): the
        // kernel follows `s` first. Only leading `..` are judged on paper below; CPython's own
        // links are plain names.
        if (climbsAfterName(link)) throw hostile(header.name, `is a symlink whose target goes up after a name (${link}), which artifacts never hold`);
        safeParent(target, header.name);
        // Resolved from where the link physically is: earlier links in its path count. It must
        // stay in the tree (root), not only in the destination: the tree is what is installed,
        // and a link to a directory beside it (../../etc from lib/) would point out of the prefix.
        const tree = root ? join(realDest, root) : realDest;
        if (!within(tree, resolve(realpathSync.native(dirname(target)), link))) throw hostile(header.name, `is a symlink that points out of the tree (${link})`);
        symlinkSync(link, target);
        files++;
        return null;
      }
      default:
        throw hostile(header.name, `is a ${header.type ?? 'unknown'} entry, which artifacts never contain`);
    }
  };

  const reader = new TarReader(visit);
  /** Reads on after the first entry once admit has answered (the metadata entry's text, or null). */
  const admit = async (): Promise<void> => {
    const { text } = pending ?? { text: null };
    ({ root, maxBytes } = await options.admit!(text));
    admitted = true;
  };
  /**
   * Runs the reader's work (its entries' writes, the admission). A full or read-only disk, or a
   * directory this process may not write, met there is the file system's it writes to, not the
   * archive's (whose own errors, a truncation or bad gzip data met while reading, are no write
   * faults).
   */
  const writes = async (work: () => Promise<void> | void): Promise<void> => {
    try {
      await work();
    } catch (error) {
      destinationFault(error);
    }
  };
  let source: Readable | null = null;
  try {
    source = await open();
    // Each chunk's entries are written before the next chunk is asked for; meanwhile zlib
    // inflates that one on libuv's pool.
    for await (const chunk of source) {
      await writes(async () => {
        reader.push(chunk as Buffer);
        while (reader.paused) {
          await admit();
          reader.resume();
        }
      });
    }
    reader.end();
    // An archive of the metadata entry alone, or of nothing: admitted at its end.
    if (!admitted) await writes(admit);
  } catch (error) {
    if (error instanceof CpyError || isDestinationFault(error)) throw error;
    throw new CpyError('CPY_ARTIFACT_CORRUPT', `cannot read ${archive}: ${(error as Error).message}`, {
      hint: 'the file is damaged or not a .tgz artifact: download it again and check its .sha256',
      cause: error,
      details: { reason: (error as Error).message },
    });
  } finally {
    try {
      if (unfinished !== null) closeSync(unfinished);
    } catch {
      // What stopped the extraction is the error; a close that fails after it (NFS) is not.
    }
    source?.destroy();
  }
  for (const [dir, time] of dirTimes.reverse()) {
    try {
      utimesSync(dir, time, time);
    } catch {
      // A directory's time is kept where it can be, nothing more.
    }
  }
  return { files, bytes, metadata };
}


