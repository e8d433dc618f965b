// An artifact packed into a staging directory, then placed, rejected or discarded: what the
// output directory holds at each step, and what publishing's and indexing's check says of a
// rejected one.
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { processOwner } from '@cpy/core';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { discardArtifact, indexEntryForFile, placeArtifact, rejectArtifact, stageArtifact, type PackOptions } from '../index.js';
import { packMetadata } from './pack-metadata.js';

let work: string;
let tree: string;

beforeAll(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'cpy-pack-stage-')));
  tree = join(work, 'tree');
  await mkdir(join(tree, 'lib', 'python3.13'), { recursive: true });
  await mkdir(join(tree, 'bin'));
  await writeFile(join(tree, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF\n');
  await writeFile(join(tree, 'bin', 'tool'), '#!/bin/sh\n', { mode: 0o755 });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const options = (outDir: string, epoch: number): PackOptions => ({ installDir: tree, metadata: packMetadata(), outDir, strip: false, sourceDateEpoch: epoch });
const failure = (p: Promise<unknown>) => p.then(() => null, (e: { code?: string; message: string; hint?: string }) => ({ code: e.code, message: e.message, hint: e.hint }));

describe('staging an artifact before it goes into its output directory', () => {
  it('staged: nothing in the output directory but the staging directory; placed: the artifact, its .json and .sha256 in place of the earlier pack, the staging directory gone', async () => {
    const out = join(work, 'placed');
    const staged = await stageArtifact(options(out, 1_700_000_000));
    expect(await readdir(out)).toEqual([expect.stringMatching(/^\.cpy-staged-/)]);
    expect((await readdir(staged.stagingDir)).sort()).toEqual([staged.fileName, `${staged.fileName}.json`, `${staged.fileName}.sha256`].sort());
    const placed = await placeArtifact(staged);
    expect(placed.path).toBe(join(out, staged.fileName));
    expect((await readdir(out)).sort()).toEqual([staged.fileName, `${staged.fileName}.json`, `${staged.fileName}.sha256`].sort());
    expect(await readFile(placed.checksumPath, 'utf8')).toBe(`${placed.sha256}  ${placed.fileName}\n`);
    expect((await indexEntryForFile(placed.path, `https://example.org/${placed.fileName}`)).sha256).toBe(placed.sha256);
  });

  it('rejected: the earlier artifact of the same name stays in the output directory, untouched; the new one goes to rejected/ with a note of why, and indexing (as publishing) refuses it', async () => {
    const out = join(work, 'rejected-case');
    const good = await placeArtifact(await stageArtifact(options(out, 1_700_000_000)));
    const goodBytes = await readFile(good.path);
    // Packed again (other bytes: another epoch), and its checks failed.
    const staged = await stageArtifact(options(out, 1_700_000_100));
    expect(staged.sha256).not.toBe(good.sha256);
    const rejected = await rejectArtifact(staged, ['FAIL imports: _ssl: No module named _ssl', 'FAIL venv: ensurepip failed']);
    expect(rejected.path).toBe(join(out, 'rejected', staged.fileName));
    expect(rejected.kept).toBe(good.path);
    expect((await readdir(out)).sort()).toEqual([good.fileName, `${good.fileName}.json`, `${good.fileName}.sha256`, 'rejected'].sort());
    expect((await readFile(good.path)).equals(goodBytes)).toBe(true);
    expect(await readFile(good.checksumPath, 'utf8')).toBe(`${good.sha256}  ${good.fileName}\n`);
    expect((await readdir(join(out, 'rejected'))).sort()).toEqual([staged.fileName, `${staged.fileName}.json`, `${staged.fileName}.sha256`, `${staged.fileName}.rejected`].sort());
    expect(await readFile(rejected.notePath, 'utf8')).toBe(
      `${staged.fileName} failed its checks when it was packed; it is kept here to look at, not to publish.\nFAIL imports: _ssl: No module named _ssl\nFAIL venv: ensurepip failed\n`,
    );
    expect(await failure(indexEntryForFile(rejected.path, `https://example.org/${staged.fileName}`))).toEqual({
      code: 'CPY_ARTIFACT_REJECTED',
      message: `${staged.fileName} failed its checks when it was packed: imports: _ssl: No module named _ssl, and 1 more (${rejected.notePath})`,
      hint: expect.stringContaining(`cpy artifact validate ${rejected.path}) and then remove ${staged.fileName}.rejected`),
    });
    // Rejected again: the earlier rejected files are replaced, not added to.
    const again = await rejectArtifact(await stageArtifact(options(out, 1_700_000_200)), ['FAIL python3: exit 1']);
    expect((await readdir(join(out, 'rejected'))).length).toBe(4);
    expect(await readFile(again.checksumPath, 'utf8')).toBe(`${again.sha256}  ${again.fileName}\n`);
    expect(await readFile(again.notePath, 'utf8')).toMatch(/\nFAIL python3: exit 1\n$/);
    // The earlier artifact still indexes.
    expect((await indexEntryForFile(good.path, `https://example.org/${good.fileName}`)).sha256).toBe(good.sha256);
    // A note there that cannot be read (here a directory) still refuses it: it was taken for no note.
    await rm(again.notePath);
    await mkdir(again.notePath);
    expect(await failure(indexEntryForFile(again.path, `https://example.org/${again.fileName}`))).toMatchObject({ code: 'CPY_ARTIFACT_REJECTED', message: `${again.fileName} failed its checks when it was packed (${again.notePath})` });
  });

  it('discarded (the command was stopped): the output directory as it was', async () => {
    const out = join(work, 'discarded');
    const good = await placeArtifact(await stageArtifact(options(out, 1_700_000_000)));
    const before = (await readdir(out)).sort();
    await discardArtifact(await stageArtifact(options(out, 1_700_000_300)));
    expect((await readdir(out)).sort()).toEqual(before);
    expect(await readFile(good.checksumPath, 'utf8')).toBe(`${good.sha256}  ${good.fileName}\n`);
  });

  it('a staging directory a killed pack left (its process gone) is removed by the next pack; a live process\'s, another host\'s and another pid namespace\'s are left alone', async () => {
    const out = join(work, 'abandoned');
    await mkdir(out);
    const gone = spawnSync('true').pid!;
    const host = hostname().replace(/[^A-Za-z0-9.]/g, '_');
    const owner = processOwner();
    const names = {
      dead: `.cpy-staged-${owner}-${gone}-aaaaaa`,
      live: `.cpy-staged-${owner}-${process.ppid}-bbbbbb`,
      other: `.cpy-staged-otherhost.1-${gone}-cccccc`,
      // A container named as this host (--uts=host), with process numbers of its own: judged by host alone, it was deleted.
      container: `.cpy-staged-${host}.9999-${gone}-dddddd`,
      // A cpy before 2026-12-07 named them for the host alone: judged so.
      legacyDead: `.cpy-staged-${host}-${gone}-eeeeee`,
    };
    for (const name of Object.values(names)) await mkdir(join(out, name, 'x'), { recursive: true });
    const staged = await stageArtifact(options(out, 1_700_000_000));
    expect(basename(staged.stagingDir).startsWith(`.cpy-staged-${owner}-${process.pid}-`)).toBe(true);
    expect((await readdir(out)).sort()).toEqual([names.live, names.other, names.container, basename(staged.stagingDir)].sort());
    await discardArtifact(staged);
  });

  it('a first pack whose checks fail leaves no artifact in the output directory at all (kept: null)', async () => {
    const out = join(work, 'first-rejected');
    const rejected = await rejectArtifact(await stageArtifact(options(out, 1_700_000_000)), ['FAIL bytecode: stale']);
    expect(rejected.kept).toBeNull();
    expect(await readdir(out)).toEqual(['rejected']);
  });

  it('a SOURCE_DATE_EPOCH that is no whole number of seconds is refused before anything is read or written (it was "Invalid time value", a bug in cpy, after stripping)', async () => {
    const out = join(work, 'bad-epoch');
    const before = process.env['SOURCE_DATE_EPOCH'];
    process.env['SOURCE_DATE_EPOCH'] = '2024-01-01';
    try {
      expect(await failure(stageArtifact({ installDir: tree, metadata: packMetadata(), outDir: out, strip: false }))).toEqual({
        code: 'CPY_ARTIFACT_BAD_OPTIONS',
        message: "SOURCE_DATE_EPOCH is '2024-01-01', not a whole number of seconds since 1970",
        hint: expect.stringMatching(/^set it to a Unix time/),
      });
      expect(await readdir(out).catch(() => [])).toEqual([]);
      process.env['SOURCE_DATE_EPOCH'] = '1700000000';
      expect((await stageArtifact({ installDir: tree, metadata: packMetadata(), outDir: out, strip: false })).fileName).toMatch(/\.tgz$/);
    } finally {
      if (before === undefined) delete process.env['SOURCE_DATE_EPOCH'];
      else process.env['SOURCE_DATE_EPOCH'] = before;
    }
  });
});
