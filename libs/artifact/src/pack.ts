import { createHash } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, posix } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { glibcFloor, gnuTriplet, treeArch } from './elf.js';
import {
  artifactFileName,
  type ArtifactMetadata,
  artifactMetadataSchema,
  checksumFileName,
  type Compression,
  CpyError,
  debugSymbolsFileName,
  formatChecksumLine,
  makeDirectory,
  METADATA_ENTRY,
  parseChecksumLine,
  processOwner,
  removeLeftByDeadProcesses,
  writeFileAtomic,
  REJECTED_DIR,
  rejectedNoteName,
  testsFileName,
} from '@cpy/core';
import { POSTINSTALL_ENTRY, postinstallSource, RESOLVE_EXECUTABLE_PTH, type PythonRunner } from './postinstall.js';
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
  /** gzip (default, `.tgz`) or zstd (`.tar.zst`, smaller; needs the zstd program to pack and to install). */
  readonly compression?: Compression;
  /**
   * Keep the debug symbols as a separate asset, `<name>.debug.tgz`: each ELF
   * file's symbols (objcopy --only-keep-debug) at `<dir>/.debug/<file>.debug`,
   * which gdb finds through the `.gnu_debuglink` added to the stripped file.
   */
  readonly debugSymbols?: boolean;
  /**
   * Write CPython's test suite (lib/pythonX.Y/test and the other test packages the artifact
   * leaves out) as a separate asset, `<name>.tests.tgz`, for `cpy artifact test` (default false).
   */
  readonly testsAsset?: boolean;
  /**
   * Where to run the target's binutils (`aarch64-linux-gnu-strip`, `-objcopy`) for a tree of another
   * architecture than this host's, e.g. the cross builder that has them; default this host.
   */
  readonly foreignTools?: PythonRunner;
  /**
   * Where the stripped copies of the ELF files are made (the tree itself is never changed), in a
   * directory of its own that is removed at the end; default `outDir`. With `foreignTools`, a
   * directory that the builder sees.
   */
  readonly scratchDir?: string;
  /** Stops the packing (Ctrl-C): rejects with the signal's reason; nothing of it is left behind. */
  readonly signal?: AbortSignal;
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
  /** The separate debug-symbols asset, when asked for. */
  readonly debugSymbols: SideAsset | null;
  /** The separate test-suite asset, when asked for. */
  readonly tests: SideAsset | null;
  /**
   * What an earlier pack of the same name left in the output directory that is no longer this
   * artifact's, removed: a side asset this pack did not write (with its .sha256 and .asc), and a
   * signature (.asc) of bytes that changed. Names, in the output directory.
   */
  readonly removed: readonly string[];
}

/**
 * A packed artifact not yet in its output directory: its files are in a staging directory inside
 * it (the same file system, so placing them is a rename), where it can be checked first. It then
 * goes into the output directory (placeArtifact), apart into `rejected/` (rejectArtifact), or
 * away (discardArtifact). Until then an earlier artifact of the same name is left as it was.
 */
export interface StagedArtifact extends Omit<PackedArtifact, 'removed'> {
  /** Where it goes (PackOptions.outDir). */
  readonly outDir: string;
  /** Where its files are: `<outDir>/.cpy-staged-<host>.<pid namespace>-<pid>-XXXXXX`. */
  readonly stagingDir: string;
}

/** An artifact whose checks failed, kept for inspection in `<outDir>/rejected/` with a note of why. */
export interface RejectedArtifact extends PackedArtifact {
  /** `<name>.rejected` beside it: what failed (publish and `cpy index add` refuse the artifact while it is there). */
  readonly notePath: string;
  /** The artifact of the same name in the output directory, an earlier pack left there as it was; null when there is none. */
  readonly kept: string | null;
}

/** An asset packed beside the artifact (`.debug.tgz`, `.tests.tgz`), with its own `.sha256`. */
export interface SideAsset {
  readonly path: string;
  readonly fileName: string;
  readonly sha256: string;
  readonly bytes: number;
}

/** This host's architecture, as `uname -m` spells it. */
const HOST_ARCH = ({ x64: 'x86_64', arm64: 'aarch64', ia32: 'i386', arm: 'armhf', ppc64: 'ppc64le', riscv64: 'riscv64', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch;

/**
 * The binutils for a tree: this host's `strip`/`objcopy` for its own architecture, the target's
 * (`aarch64-linux-gnu-strip`) for another, run where `foreign` says (default this host).
 */
interface Binutils {
  readonly prefix: string;
  run(tool: 'strip' | 'objcopy', args: string[]): Promise<void>;
}

function binutilsFor(arch: string | null, foreign: PythonRunner | undefined, signal: AbortSignal | undefined): Binutils {
  const cross = arch !== null && arch !== HOST_ARCH;
  const prefix = cross ? `${gnuTriplet(arch)}-` : '';
  return {
    prefix,
    async run(tool, args) {
      signal?.throwIfAborted();
      if (!cross || !foreign) {
        await run(`${prefix}${tool}`, args, signal ? { signal } : {}).catch((error: unknown) => {
          signal?.throwIfAborted();
          throw error;
        });
        return;
      }
      const r = await foreign(`${prefix}${tool}`, args);
      signal?.throwIfAborted();
      if (r.exitCode !== 0) throw new Error((r.stderr || r.stdout).trim() || `exit ${r.exitCode}`);
    },
  };
}

const binutilsPackage = (tools: Binutils) => (tools.prefix ? `binutils-${tools.prefix.slice(0, -1)}` : 'binutils');

/** What a binutils program said when it failed (its stderr, not the command line of 50 paths), and whether it is missing. */
function toolFailure(cause: unknown): { said: string; missing: boolean } {
  const error = cause as NodeJS.ErrnoException & { stderr?: string };
  const said = (error.stderr ?? '').trim().split('\n').slice(-3).join('; ') || error.message.split('\n').at(-1)!.trim() || error.message;
  return { said, missing: error.code === 'ENOENT' || /not found|No such file or directory: .*(strip|objcopy)/.test(said) };
}

async function stripTree(root: string, entries: readonly TreeEntry[], tools: Binutils): Promise<void> {
  const elves = entries.filter((e) => e.type === 'file' && e.elf).map((e) => join(root, e.path));
  for (let i = 0; i < elves.length; i += 50) {
    try {
      await tools.run('strip', ['--strip-unneeded', ...elves.slice(i, i + 50)]);
    } catch (cause) {
      if ((cause as Error).name === 'AbortError') throw cause;
      const { said, missing } = toolFailure(cause);
      throw new CpyError('CPY_ARTIFACT_STRIP_FAILED', `${tools.prefix}strip failed: ${said}`, {
        hint: missing ? `install ${binutilsPackage(tools)} (apt-get install ${binutilsPackage(tools)}), or pack with --no-strip` : 'see what strip said above; or pack with --no-strip',
        cause,
      });
    }
  }
}

async function objcopy(tools: Binutils, args: string[]): Promise<void> {
  try {
    await tools.run('objcopy', args);
  } catch (cause) {
    if ((cause as Error).name === 'AbortError') throw cause;
    const { said, missing } = toolFailure(cause);
    throw new CpyError('CPY_ARTIFACT_DEBUG_SYMBOLS_FAILED', `${tools.prefix}objcopy ${args[0]} failed: ${said}`, {
      hint: missing ? `install ${binutilsPackage(tools)} (apt-get install ${binutilsPackage(tools)}), or pack without --debug-symbols` : 'see what objcopy said above; or pack without --debug-symbols',
      cause,
    });
  }
}

const debugFileOf = (path: string) => posix.join(posix.dirname(path), '.debug', `${posix.basename(path)}.debug`);

/** Copies each ELF file's debug sections to `<debugDir>/<dir>/.debug/<name>.debug`. */
async function splitDebugSymbols(root: string, entries: readonly TreeEntry[], debugDir: string, tools: Binutils): Promise<void> {
  for (const e of entries.filter((x) => x.type === 'file' && x.elf)) {
    const out = join(debugDir, debugFileOf(e.path));
    await mkdir(dirname(out), { recursive: true });
    await objcopy(tools, ['--only-keep-debug', join(root, e.path), out]);
  }
}

/** Adds `.gnu_debuglink` (the debug file's name and CRC) to each stripped ELF file. */
async function linkDebugSymbols(root: string, entries: readonly TreeEntry[], debugDir: string, tools: Binutils): Promise<void> {
  for (const e of entries.filter((x) => x.type === 'file' && x.elf)) {
    await objcopy(tools, [`--add-gnu-debuglink=${join(debugDir, debugFileOf(e.path))}`, join(root, e.path)]);
  }
}

/**
 * Every entry gets the same mtime, so a timestamp-based .pyc (PEP 552 flags 0)
 * must record that mtime for its source, or Python finds all bytecode stale
 * and recompiles the standard library on every start where it cannot write.
 * Hash-based .pyc files are left as they are.
 */
export function pinPycMtime(pyc: Uint8Array, epoch: number): Uint8Array {
  const bytes = Buffer.from(pyc.buffer, pyc.byteOffset, pyc.byteLength);
  if (bytes.length < 16 || bytes.readUInt16LE(2) !== 0x0a0d || bytes.readUInt32LE(4) !== 0) return pyc;
  const out = Buffer.from(bytes);
  out.writeUInt32LE(epoch >>> 0, 8);
  return out;
}

function findLicense(entries: readonly TreeEntry[]): TreeEntry | null {
  return entries.find((e) => e.type === 'file' && /^lib\/python\d+\.\d+\/LICENSE\.txt$/.test(e.path)) ?? null;
}

interface TarItem {
  readonly name: string;
  readonly type: 'file' | 'directory' | 'symlink';
  readonly mode: number;
  /** A file's content: a path to stream from, or the bytes. */
  readonly source?: string;
  readonly body?: Uint8Array;
  readonly linkname?: string;
}

function treeItem(name: string, e: TreeEntry, root: string): TarItem {
  if (e.type === 'directory') return { name, type: 'directory', mode: 0o755 };
  if (e.type === 'symlink') return { name, type: 'symlink', mode: 0o777, linkname: e.linkTarget! };
  return { name, type: 'file', mode: e.executable ? 0o755 : 0o644, source: join(root, e.path) };
}

const sortByName = <T extends { name: string }>(items: T[]): T[] => items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/**
 * Whether this host can pack with `compression`: zstd is a program (zlib's gzip is always here).
 * Asked before a build or a pack begins (a zstd missing was found after the whole build).
 */
export async function requireCompressor(compression: Compression): Promise<void> {
  if (compression !== 'zstd') return;
  const ran = await new Promise<string | null>((resolve) => {
    const child = spawn('zstd', ['--version'], { stdio: 'ignore' });
    child.on('error', (cause) => resolve(cause.message));
    child.on('close', (code) => resolve(code === 0 ? null : `zstd --version exited with ${code}`));
  });
  if (ran !== null) {
    throw new CpyError('CPY_ARTIFACT_NO_ZSTD', `cannot run zstd: ${ran}; --compression zstd needs it to pack`, {
      hint: 'install zstd (apt-get install zstd), or pack with gzip (the default)',
    });
  }
}

/** The compressor: zlib's gzip, or the zstd program (Node 20 has no zstd). Same input, same bytes. */
function compressor(compression: Compression): { input: Writable; output: Readable; done: Promise<void> } {
  if (compression === 'gzip') {
    const gzip = createGzip({ level: 9 });
    return { input: gzip, output: gzip, done: Promise.resolve() };
  }
  // -T0 selects zstd's multi-threaded format, whose output does not depend on the thread count.
  const child = spawn('zstd', ['-19', '-T0', '-q', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (cause) =>
      reject(
        new CpyError('CPY_ARTIFACT_NO_ZSTD', `cannot run zstd: ${cause.message}`, {
          hint: 'install zstd (apt-get install zstd), or pack with gzip (the default)',
          cause,
        }),
      ),
    );
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new CpyError('CPY_ARTIFACT_COMPRESS_FAILED', `zstd exited with ${code}: ${stderr.trim() || '(no message)'}`, {
              hint: 'zstd -19 needs memory and disk space: free some and pack again, or pack with gzip (the default)',
            }),
          ),
    );
  });
  return { input: child.stdin, output: child.stdout, done };
}

/**
 * Writes `items`, in order, as a deterministic tarball: one mtime, uid/gid 0
 * without names, the modes given, .pyc mtimes pinned to the same epoch.
 * Written to a temporary name, renamed into place when complete.
 */
async function writeTarball(path: string, items: readonly TarItem[], epoch: number, compression: Compression, signal?: AbortSignal): Promise<{ sha256: string; bytes: number }> {
  const tmp = join(dirname(path), `.${basename(path)}.part`);
  const hash = createHash('sha256');
  let bytes = 0;
  const tar = tarPack();
  const header = { mtime: new Date(epoch * 1000), uid: 0, gid: 0, uname: '', gname: '' };
  const z = compressor(compression);
  const writing = Promise.all([
    pipeline(tar, z.input),
    pipeline(
      z.output,
      new Transform({
        transform(chunk: Buffer, _e, done) {
          hash.update(chunk);
          bytes += chunk.length;
          done(null, chunk);
        },
      }),
      createWriteStream(tmp),
    ),
    z.done,
  ]);
  const add = async (item: TarItem): Promise<void> => {
    const h = { ...header, mode: item.mode, type: item.type };
    if (item.type === 'directory') return void tar.entry({ ...h, name: `${item.name}/` });
    if (item.type === 'symlink') return void tar.entry({ ...h, name: item.name, linkname: item.linkname! });
    if (item.body || item.name.endsWith('.pyc')) {
      const body = Buffer.from(item.body ?? pinPycMtime(await readFile(item.source!), epoch));
      return new Promise<void>((resolve, reject) => void tar.entry({ ...h, name: item.name }, body, (err) => (err ? reject(err) : resolve())));
    }
    const { size } = await stat(item.source!);
    return new Promise<void>((resolve, reject) => {
      const sink = tar.entry({ ...h, name: item.name, size }, (err) => (err ? reject(err) : resolve()));
      createReadStream(item.source!).on('error', reject).pipe(sink);
    });
  };
  // If the compressor or the file fails, the tar stream stops calling back: stop waiting for it.
  const broken = writing.then(
    () => new Promise<never>(() => undefined),
    (error: unknown) => Promise.reject(error),
  );
  broken.catch(() => undefined);
  try {
    for (const item of items) {
      signal?.throwIfAborted();
      await Promise.race([add(item), broken]);
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
  return { sha256: hash.digest('hex'), bytes };
}

/** The sha256 a `.sha256` file beside an asset records (its sha256sum line); null when there is none. */
async function recordedDigest(checksumFile: string): Promise<string | null> {
  const text = await readFile(checksumFile, 'utf8').catch(() => null);
  return text === null ? null : (parseChecksumLine(text)?.sha256 ?? null);
}

/**
 * CPython's bin/pythonX.Y-config (Misc/python-config.sh.in) finds its prefix as the parent of the
 * directory "$0" is in, without resolving the script's own link: run as the python3-config link
 * cpy puts in /usr/local/bin, it named /usr/local (`--includes` gave /usr/local/include/python3.13,
 * `--ldflags` and `--prefix` the same). Packed, it resolves "$0" first (readlink -f, as the
 * script already does for the directory), so it names its own tree through any link.
 */
const CONFIG_SCRIPT_RE = /^bin\/python\d+\.\d+t?-config$/;
const CONFIG_PREFIX_LINE = 'prefix_real=$(installed_prefix "$0")';
const CONFIG_PREFIX_RESOLVED = 'prefix_real=$(installed_prefix "$(readlink -f "$0" 2>/dev/null || echo "$0")")';

/** The tree's pythonX.Y-config, its prefix found through links (see CONFIG_PREFIX_RESOLVED); none when the script is not CPython's shell one. */
async function configScriptItems(entries: readonly TreeEntry[], installDir: string): Promise<TarItem[]> {
  const items: TarItem[] = [];
  for (const e of entries.filter((x) => x.type === 'file' && CONFIG_SCRIPT_RE.test(x.path))) {
    const text = await readFile(join(installDir, e.path), 'utf8');
    if (!text.includes(CONFIG_PREFIX_LINE)) continue;
    items.push({ name: e.path, type: 'file', mode: e.executable ? 0o755 : 0o644, body: Buffer.from(text.replace(CONFIG_PREFIX_LINE, CONFIG_PREFIX_RESOLVED)) });
  }
  return items;
}

/**
 * What cpy adds to every tree: its post-install script (relocation and checks, run by both
 * installers), the .pth that resolves a linked python3 (see RESOLVE_EXECUTABLE_PTH) and the
 * pythonX.Y-config that resolves its own link, with the directories they need that the tree lacks.
 */
async function cpyItems(entries: readonly TreeEntry[], version: string, installDir: string): Promise<TarItem[]> {
  const [major, minor] = version.split('.');
  const files: TarItem[] = [
    { name: POSTINSTALL_ENTRY, type: 'file', mode: 0o644, body: await postinstallSource() },
    { name: `lib/python${major}.${minor}/site-packages/${RESOLVE_EXECUTABLE_PTH.name}`, type: 'file', mode: 0o644, body: Buffer.from(RESOLVE_EXECUTABLE_PTH.text) },
    ...(await configScriptItems(entries, installDir)),
  ];
  const have = new Set(entries.map((e) => e.path));
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!have.has(dir)) dirs.add(dir);
    }
  }
  return [...[...dirs].map((name): TarItem => ({ name, type: 'directory', mode: 0o755 })), ...files];
}

/**
 * Packs an installed CPython tree into `cpython-<version>-<os><osversion>-build<N>.tgz`:
 * the metadata first (`cpy-artifact.json`), then the tree under its prefix
 * (`opt/python-<version>/...`) with the PSF LICENSE at its top. Deterministic:
 * sorted entries, one mtime, uid/gid 0 without names, normalized modes, gzip
 * without a timestamp. Writes `<name>.sha256` (for `sha256sum -c`) and
 * `<name>.json` (the metadata) beside it. Packed in a staging directory inside
 * `outDir` (stageArtifact), then placed (placeArtifact): an earlier artifact of
 * the same name is replaced only by a complete one, each `.sha256` after its file.
 */
export async function packArtifact(options: PackOptions): Promise<PackedArtifact> {
  return placeArtifact(await stageArtifact(options));
}

/**
 * Packs as packArtifact does, into a staging directory inside `outDir`: nothing in `outDir` is
 * touched until the artifact is placed (or rejected). A failure removes the staging directory.
 */
export async function stageArtifact(options: PackOptions): Promise<StagedArtifact> {
  if (options.sourceDateEpoch === undefined) sourceDateEpoch();
  await makeDirectory(options.outDir);
  await removeAbandonedStaging(options.outDir);
  const stagingDir = await mkdtemp(join(options.outDir, stagingPrefix(process.pid)));
  try {
    const packed = await packInto({ ...options, outDir: stagingDir, scratchDir: options.scratchDir ?? options.outDir });
    return { ...packed, outDir: options.outDir, stagingDir };
  } catch (error) {
    await rm(stagingDir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * `.cpy-staged-<owner>-`: the staging directories of processes this one can judge, `<owner>` its
 * host and pid namespace (core's processOwner), as downloads in the cache are named. A container
 * named as its host (--uts=host) has its own process numbers: by host alone, one pack judged
 * another's staging directory abandoned and deleted it under it.
 */
const stagingOwner = () => `.cpy-staged-${processOwner()}-`;
/** `.cpy-staged-<owner>-<pid>-`: whose staging directory it is. */
const stagingPrefix = (pid: number) => `${stagingOwner()}${pid}-`;
/** `.cpy-staged-<host>-`: the names of a cpy before 2026-12-07, judged by their host as they were. */
const legacyStagingHost = () => `.cpy-staged-${hostname().replace(/[^A-Za-z0-9.]/g, '_')}-`;

/**
 * Removes the staging directories that packs killed outright (SIGKILL, a power cut) left in
 * `outDir`: each is named for its owner and process, and one of this owner whose process is gone
 * is abandoned (one whose number a live process has now is left alone, as is another owner's: a
 * container's, with its own process numbers, sharing the directory).
 */
const removeAbandonedStaging = async (outDir: string) => {
  const escaped = (prefix: string) => prefix.replace(/\./g, '\\.');
  await removeLeftByDeadProcesses(outDir, new RegExp(`^${escaped(stagingOwner())}(\\d+)-`));
  await removeLeftByDeadProcesses(outDir, new RegExp(`^${escaped(legacyStagingHost())}(\\d+)-`));
};

/** The files of a staged artifact, side assets first, each followed by its `.sha256`; the artifact's own `.sha256` last. */
function stagedFiles(staged: StagedArtifact): string[] {
  const sides = [staged.debugSymbols, staged.tests].flatMap((a) => (a ? [a.fileName, checksumFileName(a.fileName)] : []));
  return [...sides, staged.fileName, `${staged.fileName}.json`, checksumFileName(staged.fileName)];
}

/** Every name an artifact of this name may have beside it: side assets, checksums, signatures. */
function familyNames(fileName: string): string[] {
  return [fileName, debugSymbolsFileName(fileName), testsFileName(fileName)].flatMap((name) => [name, checksumFileName(name), `${name}.asc`]).concat(`${fileName}.json`);
}

/** Moves a staged artifact's files into `dir` (each `.sha256` after its file, the old one removed first) and removes the staging directory. */
async function moveStaged(staged: StagedArtifact, dir: string): Promise<PackedArtifact> {
  for (const name of stagedFiles(staged)) {
    if (name.endsWith('.sha256')) await rm(join(dir, name), { force: true });
    else await rm(join(dir, checksumFileName(name)), { force: true });
    await rename(join(staged.stagingDir, name), join(dir, name));
  }
  await rm(staged.stagingDir, { recursive: true, force: true });
  const at = (asset: SideAsset | null): SideAsset | null => (asset ? { ...asset, path: join(dir, asset.fileName) } : null);
  const { outDir: _out, stagingDir: _staging, ...packed } = staged;
  return {
    ...packed,
    path: join(dir, staged.fileName),
    checksumPath: join(dir, checksumFileName(staged.fileName)),
    metadataPath: join(dir, `${staged.fileName}.json`),
    debugSymbols: at(staged.debugSymbols),
    tests: at(staged.tests),
    removed: [],
  };
}

/**
 * Puts a staged artifact in its output directory, in place of an earlier pack of the same name,
 * and removes what that pack left that is no longer this artifact's (`removed`): a side asset this
 * pack did not write (with its .sha256 and .asc), and a signature (.asc) of bytes that changed.
 * Each `.sha256` goes in after its file.
 */
export async function placeArtifact(staged: StagedArtifact): Promise<PackedArtifact> {
  const { outDir, fileName } = staged;
  const sideNames = [debugSymbolsFileName(fileName), testsFileName(fileName)];
  // The digests an earlier pack of this name recorded: a signature of other bytes is stale.
  const before = new Map<string, string | null>();
  for (const name of [fileName, ...sideNames]) before.set(name, await recordedDigest(join(outDir, checksumFileName(name))));
  const placed = await moveStaged(staged, outDir);
  const written = new Map<string, string>([[fileName, staged.sha256], ...[staged.debugSymbols, staged.tests].flatMap((a): [string, string][] => (a ? [[a.fileName, a.sha256]] : []))]);
  const stale = [fileName, ...sideNames].flatMap((name) => {
    const now = written.get(name);
    if (now === undefined) return [name, checksumFileName(name), `${name}.asc`];
    return before.get(name) !== null && before.get(name) !== now ? [`${name}.asc`] : [];
  });
  const removed: string[] = [];
  for (const name of stale) {
    if (await rm(join(outDir, name)).then(() => true, () => false)) removed.push(name);
  }
  return { ...placed, removed };
}

/**
 * Puts a staged artifact whose checks failed apart, in `<outDir>/rejected/` (in place of an
 * earlier rejected one of the same name), with `<name>.rejected` beside it saying why: `reasons`,
 * a line each. The output directory, and an earlier artifact of the same name there, stay as they
 * were.
 */
export async function rejectArtifact(staged: StagedArtifact, reasons: readonly string[]): Promise<RejectedArtifact> {
  const dir = join(staged.outDir, REJECTED_DIR);
  await makeDirectory(dir);
  for (const name of [...familyNames(staged.fileName), rejectedNoteName(staged.fileName)]) await rm(join(dir, name), { force: true });
  // The note first (whole, then renamed), the artifact after it: publishing and indexing refuse
  // an artifact by its note, and one moved in before its note (a kill, a full disk between the
  // two) would have gone out.
  const notePath = join(dir, rejectedNoteName(staged.fileName));
  await writeFileAtomic(notePath, `${staged.fileName} failed its checks when it was packed; it is kept here to look at, not to publish.\n${reasons.map((r) => `${r}\n`).join('')}`);
  const moved = await moveStaged(staged, dir);
  const earlier = join(staged.outDir, staged.fileName);
  const kept = await stat(earlier).then(() => earlier, () => null);
  return { ...moved, notePath, kept };
}

/** Removes a staged artifact that will not be used (the command was stopped). */
export async function discardArtifact(staged: StagedArtifact): Promise<void> {
  await rm(staged.stagingDir, { recursive: true, force: true });
}

/** packArtifact's work, into `options.outDir` as it is (the staging directory). */
async function packInto(options: PackOptions): Promise<Omit<PackedArtifact, 'removed'>> {
  const keepTests = options.keepTests ?? false;
  const strip = options.strip ?? true;
  const include = (path: string) => !isExcludedAlways(path) && (keepTests || !isTestPath(path));
  let entries = await scanTree(options.installDir, include);
  // The tree's ELF files say what it is built for; the metadata must say the same.
  let arch: string | null;
  try {
    arch = treeArch(entries.flatMap((e) => (e.elf ? [e.elf] : [])));
  } catch (cause) {
    throw new CpyError('CPY_ARTIFACT_ARCH_MISMATCH', `${options.installDir}: ${(cause as Error).message}`, { hint: 'pack a tree built for one architecture', cause });
  }
  if (arch !== null && arch !== options.metadata.platform.arch) {
    throw new CpyError('CPY_ARTIFACT_ARCH_MISMATCH', `the tree's ELF files are ${arch}, but the metadata says ${options.metadata.platform.arch}`, {
      hint: `pack it with platform.arch ${arch} (a cross build records its target architecture)`,
    });
  }
  const tools = binutilsFor(arch, options.foreignTools, options.signal);
  if (options.debugSymbols && !strip) {
    throw new CpyError('CPY_ARTIFACT_BAD_OPTIONS', 'debug symbols are split off when stripping; they cannot be asked for with --no-strip', {
      hint: 'drop --no-strip (the symbols go to the separate .debug asset), or drop --debug-symbols',
    });
  }
  const license = findLicense(entries);
  if (!license) {
    throw new CpyError('CPY_ARTIFACT_NO_LICENSE', `no lib/pythonX.Y/LICENSE.txt in ${options.installDir}`, {
      hint: 'the tree is not a complete `make install`; build again',
    });
  }
  // Stripped copies of the ELF files, packed in their place: the tree is never changed, so a
  // build packed again (with --debug-symbols, with a test result) still has its symbols.
  let work: string | null = null;
  try {
    let stripped: string | null = null;
    let debugDir: string | null = null;
    if (strip) {
      const scratch = options.scratchDir ?? options.outDir;
      await makeDirectory(scratch);
      work = await mkdtemp(join(scratch, '.cpy-pack-'));
      stripped = join(work, 'stripped');
      for (const e of entries.filter((x) => x.type === 'file' && x.elf)) {
        options.signal?.throwIfAborted();
        await mkdir(dirname(join(stripped, e.path)), { recursive: true });
        await copyFile(join(options.installDir, e.path), join(stripped, e.path));
      }
      if (options.debugSymbols) {
        debugDir = join(work, 'debug');
        await mkdir(debugDir);
        await splitDebugSymbols(stripped, entries, debugDir, tools);
      }
      await stripTree(stripped, entries, tools);
      if (debugDir) await linkDebugSymbols(stripped, entries, debugDir, tools);
      const copies = stripped;
      entries = await Promise.all(entries.map(async (e) => (e.type === 'file' && e.elf ? { ...e, size: (await stat(join(copies, e.path))).size } : e)));
    }
    return await packTree(options, entries, license, { strip, keepTests, stripped, debugDir });
  } finally {
    if (work) await rm(work, { recursive: true, force: true });
  }
}

/**
 * SOURCE_DATE_EPOCH (reproducible-builds.org): the entries' time, in whole seconds since 1970, or
 * undefined when unset. Anything else is said before the tree is read (it was an "Invalid time
 * value" from deep in packing, a bug in cpy).
 */
function sourceDateEpoch(): number | undefined {
  const text = process.env['SOURCE_DATE_EPOCH'];
  if (!text) return undefined;
  if (!/^\d{1,11}$/.test(text)) {
    throw new CpyError('CPY_ARTIFACT_BAD_OPTIONS', `SOURCE_DATE_EPOCH is '${text.slice(0, 40)}', not a whole number of seconds since 1970`, {
      hint: 'set it to a Unix time (date +%s, or git log -1 --format=%ct), or unset it: the build finished time is used then',
    });
  }
  return Number(text);
}

/** packArtifact once the ELF files are stripped (`stripped`: their copies' root, if they were). */
async function packTree(
  options: PackOptions,
  treeEntries: TreeEntry[],
  license: TreeEntry,
  { strip, keepTests, stripped, debugDir }: { strip: boolean; keepTests: boolean; stripped: string | null; debugDir: string | null },
): Promise<Omit<PackedArtifact, 'removed'>> {
  let entries = treeEntries;
  const sourceOf = (e: TreeEntry) => (stripped && e.type === 'file' && e.elf ? stripped : options.installDir);
  const epoch = options.sourceDateEpoch ?? sourceDateEpoch() ?? Math.floor(Date.parse(options.metadata.builtWith.finishedAt) / 1000);
  const mtime = new Date(epoch * 1000);

  const extra = await cpyItems(entries, options.metadata.version, options.installDir);
  // A tree that already holds them (an installed one, packed again) gets this cpy's copies.
  entries = entries.filter((e) => !extra.some((item) => item.name === e.path));
  const extraBytes = extra.reduce((n, item) => n + (item.body?.length ?? 0), 0);
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
      files: entries.filter((e) => e.type !== 'directory').length + 1 + extra.filter((i) => i.type === 'file').length,
      bytes: entries.reduce((n, e) => n + e.size, 0) + license.size + extraBytes,
      stripped: strip,
      tests: keepTests,
      license: `${root}/LICENSE.txt`,
    },
    createdAt: mtime.toISOString(),
  } satisfies ArtifactMetadata);

  const compression = options.compression ?? 'gzip';
  const fileName = artifactFileName({ version: metadata.version, os: metadata.platform.os, osVersion: metadata.platform.osVersion, arch: metadata.platform.arch, build: metadata.build, compression });
  await makeDirectory(options.outDir);
  const path = join(options.outDir, fileName);
  // The directories above the tree, then the tree, in byte order of names.
  const parents = root.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  const items: TarItem[] = [
    { name: METADATA_ENTRY, type: 'file', body: Buffer.from(JSON.stringify(metadata, null, 2) + '\n'), mode: 0o644 },
    ...parents.map((dir): TarItem => ({ name: dir, type: 'directory', mode: 0o755 })),
    ...sortByName([
      ...entries.map((e) => treeItem(`${root}/${e.path}`, e, sourceOf(e))),
      { name: `${root}/LICENSE.txt`, type: 'file' as const, source: join(options.installDir, license.path), mode: 0o644 },
      ...extra.map((item) => ({ ...item, name: `${root}/${item.name}` })),
    ]),
  ];
  const { sha256, bytes } = await writeTarball(path, items, epoch, compression, options.signal);
  const checksumPath = join(options.outDir, checksumFileName(fileName));
  const metadataPath = `${path}.json`;
  await writeFile(checksumPath, formatChecksumLine(sha256, fileName));
  await writeFile(metadataPath, JSON.stringify(metadata, null, 2) + '\n');
  const sideAsset = async (name: string, dir: string, sideEntries: readonly TreeEntry[]): Promise<SideAsset> => {
    const sidePath = join(options.outDir, name);
    const sideItems = [...parents.map((d): TarItem => ({ name: d, type: 'directory', mode: 0o755 })), ...sortByName(sideEntries.map((e) => treeItem(`${root}/${e.path}`, e, dir)))];
    const written = await writeTarball(sidePath, sideItems, epoch, compression, options.signal);
    await writeFile(join(options.outDir, checksumFileName(name)), formatChecksumLine(written.sha256, name));
    return { path: sidePath, fileName: name, sha256: written.sha256, bytes: written.bytes };
  };
  let tests: SideAsset | null = null;
  if (options.testsAsset && !keepTests) {
    // The test packages, and the directories above them, as the artifact leaves them out.
    const dirs = new Set(entries.filter((e) => e.type === 'directory').map((e) => e.path));
    const testEntries = await scanTree(options.installDir, (p) => !isExcludedAlways(p) && (isTestPath(p) || dirs.has(p)));
    tests = await sideAsset(testsFileName(fileName), options.installDir, testEntries.filter((e) => isTestPath(e.path)));
  }
  const debugSymbols = debugDir ? await sideAsset(debugSymbolsFileName(fileName), debugDir, await scanTree(debugDir)) : null;
  return { path, fileName, sha256, bytes, checksumPath, metadataPath, metadata, debugSymbols, tests };
}
