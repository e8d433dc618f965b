// newestCached: the build an install without an index (or offline) takes from the cache.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { processOwner } from '@cpy/core';
import { newestCached, removeDeadDownloads } from '../acquire.js';
import { parseVersionRequest } from '../request.js';

let cache: string;
beforeEach(async () => {
  cache = await mkdtemp(join(tmpdir(), 'cpy-cached-'));
});
afterEach(() => rm(cache, { recursive: true, force: true }));

/** A cache entry as an install leaves one: <sha256>.tgz and <sha256>.json saying what it is. */
async function cached(sha: string, fileName: string, version: string, build: number): Promise<void> {
  const sha256 = sha.repeat(64);
  await writeFile(join(cache, `${sha256}.tgz`), '');
  await writeFile(join(cache, `${sha256}.json`), JSON.stringify({ fileName, version, build, source: `https://example.org/${fileName}` }));
}

describe('newestCached', () => {
  it("takes this host's architecture and distribution first, then its architecture, each newest first (a cache shared by two distributions' runners gave the other's newer build)", async () => {
    await cached('a', 'cpython-3.13.6-ubuntu24.04-build1.tgz', '3.13.6', 1);
    await cached('b', 'cpython-3.13.5-ubuntu22.04-build2.tgz', '3.13.5', 2);
    await cached('c', 'cpython-3.13.7-ubuntu22.04-aarch64-build1.tgz', '3.13.7', 1);
    const pick = async (arch: string, distro: { id: string; versionId: string } | null) => (await newestCached(cache, parseVersionRequest('3.13'), { arch, distro }))?.fileName;
    expect(await pick('x86_64', { id: 'ubuntu', versionId: '22.04' })).toBe('cpython-3.13.5-ubuntu22.04-build2.tgz');
    expect(await pick('x86_64', { id: 'ubuntu', versionId: '24.04' })).toBe('cpython-3.13.6-ubuntu24.04-build1.tgz');
    // Another distribution of this architecture before another architecture.
    expect(await pick('x86_64', { id: 'debian', versionId: '12' })).toBe('cpython-3.13.6-ubuntu24.04-build1.tgz');
    expect(await pick('aarch64', { id: 'ubuntu', versionId: '22.04' })).toBe('cpython-3.13.7-ubuntu22.04-aarch64-build1.tgz');
    // Without a host: the newest, as before.
    expect((await newestCached(cache, parseVersionRequest('3.13')))?.fileName).toBe('cpython-3.13.7-ubuntu22.04-aarch64-build1.tgz');
  });
});

describe('removeDeadDownloads', () => {
  it("removes the partial downloads of this host's and pid namespace's dead processes only: another container's, sharing the cache, are never judged (one in progress was deleted)", async () => {
    // A pid no process has: past the kernel's default pid_max.
    const gone = 4_194_999;
    const names = {
      dead: `.download-${processOwner()}-${gone}-a.tgz`,
      deadPart: `..download-${processOwner()}-${gone}-b.tgz.part-1`,
      live: `.download-${processOwner()}-${process.ppid}-c.tgz`,
      otherContainer: `.download-${processOwner().replace(/\.\d+$/, '.1234')}-${gone}-d.tgz`,
      otherHost: `.download-otherhost.4026531836-${gone}-e.tgz`,
      legacy: `.download-${gone}-f.tgz`,
    };
    for (const name of Object.values(names)) await writeFile(join(cache, name), '');
    await removeDeadDownloads(cache);
    expect((await readdir(cache)).sort()).toEqual([names.live, names.otherContainer, names.otherHost].sort());
  });
});
