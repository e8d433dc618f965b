import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { readElf, type ElfInfo } from './elf.js';

export interface TreeEntry {
  /** Relative to the tree's root, with `/`. */
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink';
  readonly size: number;
  readonly executable: boolean;
  readonly mtimeMs: number;
  readonly linkTarget: string | null;
  readonly elf: ElfInfo | null;
}

/**
 * Files no artifact carries: the static libpython (68 MB for 3.13, unused by a
 * shared build), and the -O/-OO bytecode (Python writes it on demand).
 */
export function isExcludedAlways(path: string): boolean {
  return /^lib\/python\d+\.\d+\/config-[^/]+\/libpython[^/]*\.a$/.test(path) || /\.opt-[12]\.pyc$/.test(path);
}

/** Paths cpy leaves out of an artifact unless asked to keep the test suite. */
export function isTestPath(path: string): boolean {
  return /^lib\/python\d+\.\d+\/(test|idlelib\/idle_test|tkinter\/test|lib2to3\/tests|unittest\/test|ctypes\/test|sqlite3\/test|distutils\/tests)(\/|$)/.test(path);
}

/** Runs at most `n` of the given tasks at once. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async (task) => {
    if (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

/**
 * Walks a tree (no symlink following), reading every regular file's ELF
 * headers, many files at a time; the result is sorted by path. `include`
 * decides what is walked.
 */
export async function scanTree(root: string, include: (path: string) => boolean = () => true): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const limit = limiter(64);
  const walk = async (rel: string): Promise<void> => {
    const names = await limit(() => readdir(join(root, rel)));
    await Promise.all(
      names.map(async (name) => {
        const path = rel ? posix.join(rel, name) : name;
        if (!include(path)) return;
        const full = join(root, path);
        const st = await limit(() => lstat(full));
        if (st.isSymbolicLink()) {
          out.push({ path, type: 'symlink', size: 0, executable: false, mtimeMs: st.mtimeMs, linkTarget: await limit(() => readlink(full)), elf: null });
        } else if (st.isDirectory()) {
          out.push({ path, type: 'directory', size: 0, executable: true, mtimeMs: st.mtimeMs, linkTarget: null, elf: null });
          await walk(path);
        } else if (st.isFile()) {
          const elf = st.size >= 64 ? await limit(() => readElf(full)).catch(() => null) : null;
          out.push({ path, type: 'file', size: st.size, executable: (st.mode & 0o111) !== 0, mtimeMs: st.mtimeMs, linkTarget: null, elf });
        }
      }),
    );
  };
  await walk('');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Libraries glibc itself provides: a tree's need for them is the glibc floor, not a package. */
const GLIBC_SONAMES = /^(libc|libm|libpthread|libdl|librt|libutil|libresolv|libanl|libnsl)\.so\.\d+$|^ld-linux.*\.so\.\d+$/;

/** Shared libraries the tree's ELF files need that the tree does not carry (glibc's own excluded). */
export function externalNeeds(entries: readonly TreeEntry[]): Map<string, string[]> {
  const carried = new Set<string>();
  for (const e of entries) {
    carried.add(posix.basename(e.path));
    if (e.elf?.soname) carried.add(e.elf.soname);
  }
  const needs = new Map<string, string[]>();
  for (const e of entries) {
    for (const lib of e.elf?.needed ?? []) {
      if (carried.has(lib) || GLIBC_SONAMES.test(lib)) continue;
      needs.set(lib, [...(needs.get(lib) ?? []), e.path]);
    }
  }
  return new Map([...needs.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}
