// Loads CommonJS files with V8's code cache kept beside them: what issue 20's already-installed
// `cpy install` spent most of its own time on was compiling the command's code, at every start.
// Node 20 has no module.enableCompileCache (Node 22 does); this does what it does, for the files
// of one bundle (scripts/bundle.mjs builds the install command so):
//
// - a file is compiled as `require` would (Node's wrapper, the same five arguments), through a
//   vm.Script given the bytes V8 wrote at the end of an earlier run: V8 then deserializes the
//   functions that run compiled instead of parsing and compiling them again;
// - a file's require() of a sibling .cjs file (`./chunk-X.cjs`: another chunk of the same bundle)
//   loads it the same way, once per process, as require's own cache does; anything else (Node's
//   modules) is the caller's require;
// - at exit, for each file that had no cache or one that was not used, V8's cache is written: it
//   then holds every function this run compiled, not only the top level;
// - the cache is `<file>.v8cache`, beside the file: whoever can write it can write the code it
//   stands for (in a shared place, a temporary directory, another user could plant bytecode).
//   Where the folder cannot be written (a checkout owned by root, run by a user), nothing is
//   cached: no error, and no cache is made to be thrown away;
// - V8 checks its own version, its flags and the source's length, not the source's content, and
//   of its own bytes only their header: a cache for other code of the same length is run as that
//   code, and damaged bytes behind a good header crash the process. So the cache begins with a
//   line naming the node binary (version, size, change time) and the file (size, change time,
//   inode), and one that does not match is not used (a bundle rebuilt in place, another node);
//   and it is written whole or not at all: into a new temporary file (O_EXCL, a name no other
//   writer has), flushed to the disk, then renamed over the old one;
// - code loaded this way must not call import(): V8 does not keep, in the cache, what resolves
//   it. The bundle is built with each import() turned into a require() run at the same moment.
//
// With NODE_OPTIONS=--enable-source-maps the files are required as usual, so that stack traces
// name the modules they were bundled from (Node does not map a vm.Script's frames).
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

/** What became of the code cache for one file: used, to be written at exit, or not tried. */
export type CodeCacheUse = 'used' | 'written' | 'off';

export interface CodeCacheOptions {
  /**
   * What the files' require() of anything but a sibling is (Node's modules, the only other thing a
   * bundle requires): the caller's own. Loading node:module for createRequire would load Node's
   * ES module loader, which this is here to spare.
   */
  readonly require: NodeJS.Require | ((id: string) => unknown);
}

interface Loaded {
  readonly module: { exports: unknown };
  readonly cache: CodeCacheUse;
}

const FORMAT = 'cpy-v8-cache 1';
const SIBLING = /^\.\/[\w.-]+\.cjs$/;
/** Node's own CommonJS wrapper (Module.wrap): the file sees what it would under require(). */
const WRAPPER = ['(function (exports, require, module, __filename, __dirname) { ', '\n});'] as const;

/** The files loaded in this process (by path), as require's cache holds modules. */
const loaded = new Map<string, Loaded>();
/** The caches to write at exit: from a command's first files and from siblings it loads later. */
const pending: (() => void)[] = [];
let nodeKey: string | undefined;

/** Loads `file` (an absolute path to a CommonJS file) as `require` would, with the code cache. */
export function requireWithCodeCache(file: string, options: CodeCacheOptions): unknown {
  return loadWithCodeCache(file, options).exports;
}

/** The same, saying for each file this process has loaded so what became of its cache. */
export function loadWithCodeCache(file: string, options: CodeCacheOptions): { exports: unknown; caches: ReadonlyMap<string, CodeCacheUse> } {
  const sourceMaps = (process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled === true;
  if (sourceMaps) return { exports: options.require(file), caches: new Map([[file, 'off']]) };
  const exports = load(file, options.require).module.exports;
  return { exports, caches: new Map([...loaded].map(([f, l]) => [f, l.cache])) };
}

function load(file: string, fallback: CodeCacheOptions['require']): Loaded {
  const known = loaded.get(file);
  if (known) return known;
  const fd = openSync(file, 'r');
  let source: string;
  let key: string;
  try {
    const stat = fstatSync(fd);
    key = `${FORMAT} ${(nodeKey ??= nodeBinary())} ${stat.size} ${stat.ctimeMs} ${stat.ino}\n`;
    // esbuild writes ASCII (its default charset escapes the rest): latin1 reads it as is, faster.
    source = readFileSync(fd, 'latin1');
  } finally {
    closeSync(fd);
  }
  const cachePath = `${file}.v8cache`;
  const cached = readCache(cachePath, key);
  const script = new Script(`${WRAPPER[0]}${source}${WRAPPER[1]}`, { filename: file, ...(cached ? { cachedData: cached } : {}) });
  const used = cached !== undefined && !script.cachedDataRejected;
  const module = { exports: {} as unknown, filename: file, id: file, loaded: false };
  const entry: Loaded = { module, cache: used ? 'used' : 'written' };
  loaded.set(file, entry);
  if (!used) atExit(() => writeCache(cachePath, key, () => script.createCachedData()));
  const here = dirname(file);
  // The caller's require, its resolve, cache and main included, but for the bundle's own files.
  const require = Object.assign((id: string): unknown => (SIBLING.test(id) ? load(join(here, id), fallback).module.exports : fallback(id)), fallback);
  const wrapper = script.runInThisContext() as (exports: unknown, require: (id: string) => unknown, module: unknown, filename: string, dirname: string) => void;
  try {
    wrapper.call(module.exports, module.exports, require, module, file, here);
  } catch (error) {
    // As require does: a file whose code threw is not kept as loaded, and the next require runs it again.
    loaded.delete(file);
    throw error;
  }
  module.loaded = true;
  return entry;
}

/** The node binary running: a cache V8 wrote under another is not offered to this one. */
function nodeBinary(): string {
  try {
    const stat = statSync(process.execPath);
    return `node ${process.version} ${process.arch} ${stat.size} ${stat.ctimeMs}`;
  } catch {
    return `node ${process.version} ${process.arch}`;
  }
}

function atExit(save: () => void): void {
  if (pending.push(save) > 1) return;
  process.once('exit', () => {
    for (const each of pending) {
      try {
        each();
      } catch {
        // A cache not written costs the next run its compile, never this run its exit code.
      }
    }
  });
}

/** The cache's V8 bytes when its first line is `key`, else undefined (none, unreadable, stale). */
function readCache(path: string, key: string): Buffer | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return undefined;
  }
  const head = Buffer.from(key, 'latin1');
  return bytes.length > head.length && bytes.subarray(0, head.length).equals(head) ? bytes.subarray(head.length) : undefined;
}

/** Writes the cache whole or not at all: a folder that cannot be written, or a full disk, leaves none. */
function writeCache(path: string, key: string, data: () => Buffer): void {
  // A name no other writer has, created new: a process in another pid namespace (a container with
  // this checkout mounted) may have the same pid.
  const temporary = `${path}.${process.pid}-${process.hrtime.bigint()}.tmp`;
  let fd: number;
  try {
    fd = openSync(temporary, 'wx', 0o644);
  } catch {
    return;
  }
  try {
    try {
      const bytes = Buffer.concat([Buffer.from(key, 'latin1'), data()]);
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch {
    rmSync(temporary, { force: true });
  }
}
