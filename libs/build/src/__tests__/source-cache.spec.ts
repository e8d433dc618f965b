// SourceCache.store: what a fetch leaves in the cache, and what a build reading it meanwhile sees.
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { SourceCache, type CacheEntry } from '../source/cache.js';

let dir: string;
beforeEach(async () => void (dir = await mkdtemp(join(tmpdir(), 'cpy-source-cache-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

const SHA = 'a'.repeat(64);
const entry = (over: Partial<CacheEntry> = {}): CacheEntry => ({
  version: '3.13.5',
  fileName: 'Python-3.13.5.tar.xz',
  sha256: SHA,
  bytes: 7,
  url: 'https://www.python.org/ftp/python/3.13.5/Python-3.13.5.tar.xz',
  asc: true,
  sigstore: false,
  fetchedAt: new Date().toISOString(),
  ...over,
});

/** A scratch directory as a fetch leaves it: the tarball and the signature files it found. */
async function fetched(cache: SourceCache, files: Record<string, string>): Promise<string> {
  const scratch = await cache.scratch();
  for (const [name, text] of Object.entries(files)) await writeFile(join(scratch, name), text);
  return scratch;
}

describe('SourceCache.store', () => {
  it('stores a new object and records the version', async () => {
    const cache = new SourceCache(dir);
    const path = await cache.store(await fetched(cache, { 'Python-3.13.5.tar.xz': 'tarball', 'Python-3.13.5.tar.xz.asc': 'sig' }), entry());
    expect(path).toBe(join(cache.objectDir(SHA), 'Python-3.13.5.tar.xz'));
    expect(await readFile(path, 'utf8')).toBe('tarball');
    expect((await cache.lookup('3.13.5'))?.sha256).toBe(SHA);
  });

  it('storing an object that is there again (a --refresh) never leaves its tarball missing for a build reading it meanwhile; files the new fetch lacks go', async () => {
    const cache = new SourceCache(dir);
    const path = await cache.store(await fetched(cache, { 'Python-3.13.5.tar.xz': 'tarball', 'Python-3.13.5.tar.xz.asc': 'sig' }), entry());
    // A build beside the fetch: it looks for the tarball between every step of the store.
    let missing = 0;
    let polling = true;
    const poll = () => {
      if (!existsSync(path)) missing++;
      if (polling) setImmediate(poll);
    };
    setImmediate(poll);
    try {
      for (let i = 0; i < 20; i++) {
        await cache.store(await fetched(cache, { 'Python-3.13.5.tar.xz': 'tarball', 'Python-3.13.5.tar.xz.sigstore': 'bundle' }), entry({ asc: false, sigstore: true }));
      }
    } finally {
      polling = false;
    }
    expect(missing).toBe(0);
    expect((await readdir(cache.objectDir(SHA))).sort()).toEqual(['Python-3.13.5.tar.xz', 'Python-3.13.5.tar.xz.sigstore']);
    expect(await readdir(join(dir, 'sources', 'tmp'))).toEqual([]);
    expect((await cache.lookup('3.13.5'))?.sigstore).toBe(true);
  });

  it('a file where the object goes (a damaged cache) is replaced by the object', async () => {
    const cache = new SourceCache(dir);
    await mkdir(join(dir, 'sources', 'sha256'), { recursive: true });
    await writeFile(cache.objectDir(SHA), 'not a directory');
    const path = await cache.store(await fetched(cache, { 'Python-3.13.5.tar.xz': 'tarball' }), entry({ asc: false }));
    expect((await stat(cache.objectDir(SHA))).isDirectory()).toBe(true);
    expect(await readFile(path, 'utf8')).toBe('tarball');
  });
});
