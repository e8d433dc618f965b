import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { glibcFloor } from './elf.js';
import { CpyError } from './errors.js';
import { artifactMetadataSchema, METADATA_ENTRY, type ArtifactMetadata } from './metadata.js';
import { artifactFileName, checksumFileName, formatChecksumLine } from './naming.js';
import { externalNeeds, isExcludedAlways, isTestPath, scanTree, type TreeEntry } from './tree.js';

const run = promisify(execFile);

/** The metadata the caller knows; the packer adds the rest from the tree. */
export type PackMetadata = Omit<ArtifactMetadata, 'schemaVersion' | 'name' | 'contents' | 'createdAt' | 'runtime' | 'platform'> & {
  readonly platform: Omit<ArtifactMetadata['platform'], 'glibcFloor'>;
};

export interface PackOptions {
  /** The installed tree: <staging><prefix>. */
  readonly installDir: string;
  readonly metadata: PackMetadata;
  readonly outDir: string;
  /** Strip ELF files in place before packing (default true). */
  readonly strip?: boolean;
  /** Keep lib/pythonX.Y/test and friends (default false). */
  readonly keepTests?: boolean;
  /** Seconds since the epoch for every entry's mtime and createdAt; default $SOURCE_DATE_EPOCH, else the build's finishedAt. */
  readonly sourceDateEpoch?: number;
  /** Packages that provide each shared library on the builder (soname -> packages). */
  readonly packagesFor?: (sonames: readonly string[]) => Promise<Record<string, readonly string[]>>;
}

export interface PackedArtifact {
  readonly path: string;
  readonly fileName: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly checksumPath: string;
  readonly metadataPath: string;
  readonly metadata: ArtifactMetadata;
}

async function stripTree(root: string, entries: readonly TreeEntry[]): Promise<void> {
  const elves = entries.filter((e) => e.type === 'file' && e.elf).map((e) => join(root, e.path));
  for (let i = 0; i < elves.length; i += 50) {
    try {
      await run('strip', ['--strip-unneeded', ...elves.slice(i, i + 50)]);
    } catch (cause) {
      throw new CpyError('CPY_ARTIFACT_STRIP_FAILED', `strip failed: ${(cause as Error).message.split('\n')[0]}`, {
        hint: 'install binutils (apt-get install binutils), or pack with --no-strip',
        cause,
      });
    }
  }
}

/**
 * Every entry gets the same mtime, so a timestamp-based .pyc (PEP 552 flags 0)
 * must record that mtime for its source, or Python finds all bytecode stale
 * and recompiles the standard library on every start where it cannot write.
 * Hash-based .pyc files are left as they are.
 */
export function pinPycMtime(pyc: Buffer, epoch: number): Buffer {
  if (pyc.length < 16 || pyc.readUInt16LE(2) !== 0x0a0d || pyc.readUInt32LE(4) !== 0) return pyc;
  const out = Buffer.from(pyc);
  out.writeUInt32LE(epoch >>> 0, 8);
  return out;
}

function findLicense(entries: readonly TreeEntry[]): TreeEntry | null {
  return entries.find((e) => e.type === 'file' && /^lib\/python\d+\.\d+\/LICENSE\.txt$/.test(e.path)) ?? null;
}

/**
 * Packs an installed CPython tree into `cpython-<version>-<os><osversion>-build<N>.tgz`:
 * the metadata first (`cpy-artifact.json`), then the tree under its prefix
 * (`opt/python-<version>/...`) with the PSF LICENSE at its top. Deterministic:
 * sorted entries, one mtime, uid/gid 0 without names, normalized modes, gzip
 * without a timestamp. Writes `<name>.sha256` (for `sha256sum -c`) and
 * `<name>.json` (the metadata) beside it. The tarball is written to a temporary
 * name and renamed when complete.
 */
export async function packArtifact(options: PackOptions): Promise<PackedArtifact> {
  const keepTests = options.keepTests ?? false;
  const strip = options.strip ?? true;
  const include = (path: string) => !isExcludedAlways(path) && (keepTests || !isTestPath(path));
  let entries = await scanTree(options.installDir, include);
  if (strip) {
    await stripTree(options.installDir, entries);
    entries = await scanTree(options.installDir, include);
  }
  const license = findLicense(entries);
  if (!license) {
    throw new CpyError('CPY_ARTIFACT_NO_LICENSE', `no lib/pythonX.Y/LICENSE.txt in ${options.installDir}`, {
      hint: 'the tree is not a complete `make install`; build again',
    });
  }
  const epoch =
    options.sourceDateEpoch ??
    (process.env['SOURCE_DATE_EPOCH'] ? Number(process.env['SOURCE_DATE_EPOCH']) : Math.floor(Date.parse(options.metadata.builtWith.finishedAt) / 1000));
  const mtime = new Date(epoch * 1000);

  const needs = externalNeeds(entries);
  const packages = options.packagesFor ? await options.packagesFor([...needs.keys()]) : {};
  const root = options.metadata.prefix.replace(/^\//, '');
  const metadata = artifactMetadataSchema.parse({
    schemaVersion: 1,
    name: 'cpython',
    ...options.metadata,
    platform: { ...options.metadata.platform, glibcFloor: glibcFloor(entries.flatMap((e) => (e.elf ? [e.elf] : []))) },
    runtime: { needs: [...needs.entries()].map(([soname, usedBy]) => ({ soname, packages: [...(packages[soname] ?? [])], usedBy })) },
    contents: {
      files: entries.filter((e) => e.type !== 'directory').length + 1,
      bytes: entries.reduce((n, e) => n + e.size, 0) + license.size,
      stripped: strip,
      tests: keepTests,
      license: `${root}/LICENSE.txt`,
    },
    createdAt: mtime.toISOString(),
  } satisfies ArtifactMetadata);

  const fileName = artifactFileName({ version: metadata.version, os: metadata.platform.os, osVersion: metadata.platform.osVersion, build: metadata.build });
  await mkdir(options.outDir, { recursive: true });
  const path = join(options.outDir, fileName);
  const tmp = join(options.outDir, `.${fileName}.part`);
  const hash = createHash('sha256');
  let bytes = 0;
  const tar = tarPack();
  const header = { mtime, uid: 0, gid: 0, uname: '', gname: '' };
  const writing = pipeline(
    tar,
    createGzip({ level: 9 }),
    new Transform({
      transform(chunk: Buffer, _e, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    }),
    createWriteStream(tmp),
  );
  const addFile = async (name: string, source: string, size: number, mode: number) => {
    if (name.endsWith('.pyc')) {
      const pyc = pinPycMtime(await readFile(source), epoch);
      return new Promise<void>((resolve, reject) => void tar.entry({ ...header, name, mode, type: 'file' }, pyc, (err) => (err ? reject(err) : resolve())));
    }
    return new Promise<void>((resolve, reject) => {
      const sink = tar.entry({ ...header, name, size, mode, type: 'file' }, (err) => (err ? reject(err) : resolve()));
      createReadStream(source).on('error', reject).pipe(sink);
    });
  };
  try {
    const json = Buffer.from(JSON.stringify(metadata, null, 2) + '\n');
    tar.entry({ ...header, name: METADATA_ENTRY, mode: 0o644, type: 'file' }, json);
    const all = [...entries.map((e) => ({ entry: e, name: `${root}/${e.path}` }))];
    // The directories above the tree, then the tree, in byte order of names.
    const parents = root.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    for (const dir of parents) tar.entry({ ...header, name: `${dir}/`, mode: 0o755, type: 'directory' });
    const items = [...all, { entry: null, name: `${root}/LICENSE.txt` }].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { entry, name } of items) {
      if (!entry) {
        await addFile(name, join(options.installDir, license.path), license.size, 0o644);
      } else if (entry.type === 'directory') {
        tar.entry({ ...header, name: `${name}/`, mode: 0o755, type: 'directory' });
      } else if (entry.type === 'symlink') {
        tar.entry({ ...header, name, mode: 0o777, type: 'symlink', linkname: entry.linkTarget! });
      } else {
        await addFile(name, join(options.installDir, entry.path), entry.size, entry.executable ? 0o755 : 0o644);
      }
    }
    tar.finalize();
    await writing;
    await rename(tmp, path);
  } catch (error) {
    tar.destroy();
    await writing.catch(() => undefined);
    await rm(tmp, { force: true });
    throw error;
  }
  const sha256 = hash.digest('hex');
  const checksumPath = join(options.outDir, checksumFileName(fileName));
  const metadataPath = `${path}.json`;
  await writeFile(checksumPath, formatChecksumLine(sha256, fileName));
  await writeFile(metadataPath, JSON.stringify(metadata, null, 2) + '\n');
  return { path, fileName, sha256, bytes, checksumPath, metadataPath, metadata };
}
