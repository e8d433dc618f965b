import { homedir } from 'node:os';
import { join } from 'node:path';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import * as z from 'zod';
import { processAlive, SHA256_HEX_RE } from '@cpy/core';

/** The cache directory: $CPY_CACHE_DIR, else $XDG_CACHE_HOME/cpy, else ~/.cache/cpy. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['CPY_CACHE_DIR']) return env['CPY_CACHE_DIR'];
  const xdg = env['XDG_CACHE_HOME'];
  return join(xdg && xdg.startsWith('/') ? xdg : join(env['HOME'] || homedir(), '.cache'), 'cpy');
}

const entrySchema = z.object({
  version: z.string(),
  fileName: z.string().regex(/^Python-[0-9a-z.]+\.(tar\.xz|tgz)$/),
  sha256: z.string().regex(SHA256_HEX_RE),
  bytes: z.number().int().nonnegative(),
  url: z.string(),
  asc: z.boolean(),
  sigstore: z.boolean(),
  fetchedAt: z.string(),
  /** Whether the release inside was read and found to be this version (checkReleaseInside); absent in entries of older cpy. */
  releaseChecked: z.optional(z.boolean()),
});

/** What the cache remembers of a verified source. */
export type CacheEntry = z.infer<typeof entrySchema>;

/** A scratch directory older than this, of a process that is gone, was left by a stopped fetch. */
const STALE_SCRATCH_MS = 60 * 60 * 1000;

/**
 * Verified sources, stored by sha256:
 *   <dir>/sources/sha256/<hex>/Python-<v>.tar.xz (+ .asc, .sigstore)
 *   <dir>/sources/versions/<version>.json  -> which sha256 a version is
 * Entries are written only after verification, and renamed into place, so a
 * crash leaves either the old state or the new one.
 */
export class SourceCache {
  constructor(readonly dir: string) {}

  private get root(): string {
    return join(this.dir, 'sources');
  }

  objectDir(sha256: string): string {
    return join(this.root, 'sha256', sha256);
  }

  /**
   * A fresh scratch directory inside the cache (same filesystem, so renames are atomic). What a
   * fetch stopped part way left (Ctrl-C, a kill) goes first: a scratch directory over an hour old
   * whose process is gone. (The age: a cache shared by containers sees pids of other namespaces.)
   */
  async scratch(): Promise<string> {
    const tmp = join(this.root, 'tmp');
    for (const name of await readdir(tmp).catch(() => [] as string[])) {
      const pid = Number(/^(\d+)-/.exec(name)?.[1]);
      if (!pid || pid === process.pid || processAlive(pid)) continue;
      const age = Date.now() - ((await stat(join(tmp, name)).catch(() => null))?.mtimeMs ?? Date.now());
      if (age > STALE_SCRATCH_MS) await rm(join(tmp, name), { recursive: true, force: true });
    }
    const dir = join(tmp, `${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async lookup(version: string): Promise<CacheEntry | null> {
    try {
      const parsed = entrySchema.safeParse(JSON.parse(await readFile(join(this.root, 'versions', `${version}.json`), 'utf8')));
      return parsed.success && parsed.data.version === version ? parsed.data : null;
    } catch {
      return null;
    }
  }

  /**
   * Moves a verified scratch directory's files into the store and records the version. An object
   * already there (a `--refresh`, a damaged copy fetched again) holds the tarball a build beside
   * this fetch may be about to read: each file is renamed over its old copy, never removed first.
   */
  async store(scratch: string, entry: CacheEntry): Promise<string> {
    const target = this.objectDir(entry.sha256);
    await mkdir(join(this.root, 'sha256'), { recursive: true });
    const code = await rename(scratch, target).then(
      () => null,
      (error: NodeJS.ErrnoException) => error.code,
    );
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      const names = await readdir(scratch);
      for (const name of names) await rename(join(scratch, name), join(target, name));
      // What the old object had and this one has not (a signature no longer published) is not this entry's.
      for (const name of await readdir(target)) if (!names.includes(name)) await rm(join(target, name), { recursive: true, force: true });
      await rm(scratch, { recursive: true, force: true });
    } else if (code) {
      // Not a directory where the object goes: nothing can be reading it.
      await rm(target, { recursive: true, force: true });
      await rename(scratch, target);
    }
    const versions = join(this.root, 'versions');
    await mkdir(versions, { recursive: true });
    const tmp = join(versions, `.${entry.version}.json.${randomBytes(4).toString('hex')}`);
    await writeFile(tmp, JSON.stringify(entry, null, 2) + '\n');
    await rename(tmp, join(versions, `${entry.version}.json`));
    return join(target, entry.fileName);
  }

  async forget(version: string): Promise<void> {
    await rm(join(this.root, 'versions', `${version}.json`), { force: true });
  }
}
