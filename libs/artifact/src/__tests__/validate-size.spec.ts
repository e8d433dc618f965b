import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { machine, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { extract as tarExtract, type Header } from 'tar-stream';
import { METADATA_ENTRY } from '@cpy/core';
import { checkSideChecksum, extractLimit, packArtifact, validateArtifact } from '../index.js';
import { packMetadata } from './pack-metadata.js';
import { tgz, type Entry } from './tgz.js';

const metadata = packMetadata();

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-validate-size-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The entries of a .tgz, with `edit` applied to its metadata entry (a text entry each: the test tree has no binary file). */
async function entriesOf(archive: string, edit: (m: { contents: { bytes: number } }) => void): Promise<Entry[]> {
  const entries: Entry[] = [];
  const extractor = tarExtract();
  extractor.on('entry', (header: Header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      let body = Buffer.concat(chunks).toString('utf8');
      if (header.name === METADATA_ENTRY) {
        const m = JSON.parse(body) as { contents: { bytes: number } };
        edit(m);
        body = JSON.stringify(m, null, 2) + '\n';
      }
      entries.push({ name: header.name, type: header.type ?? 'file', mode: header.mode ?? 0o644, ...(header.type === 'file' ? { body } : {}), ...(header.linkname ? { linkname: header.linkname } : {}) });
      next();
    });
  });
  await pipeline(createReadStream(archive), createGunzip(), extractor);
  return entries;
}

describe('validating an artifact for another architecture', () => {
  it('says so before running anything (its python3 would not start here: "Exec format error", said as a failed relocation)', async () => {
    const other = machine() === 'aarch64' ? 'x86_64' : 'aarch64';
    // (A host whose kernel runs it under an emulator, binfmt_misc, validates it: not this test's case.)
    expect(existsSync(`/proc/sys/fs/binfmt_misc/qemu-${other}`)).toBe(false);
    const tree = join(work, 'foreign');
    await mkdir(join(tree, 'lib', 'python3.13'), { recursive: true });
    await writeFile(join(tree, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF\n');
    const packed = await packArtifact({ installDir: tree, metadata: packMetadata(other), outDir: join(work, 'foreign-out'), strip: false, sourceDateEpoch: 1_700_000_000 });
    const report = await validateArtifact(packed.path);
    expect(report.checks.find((c) => c.id === 'runs')).toEqual({ id: 'runs', ok: false, detail: `this host is ${machine()}, the artifact is for ${other}: validate it on an ${other} system like its builder (debian 12)` });
    expect(report.checks.map((c) => c.id)).not.toContain('relocation');
  });
});

describe('validating the size an artifact declares', () => {
  it('refuses an artifact whose metadata says fewer bytes than its tree holds, as every install would (the same limit)', async () => {
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'lib', 'python3.13'), { recursive: true });
    await writeFile(join(tree, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF\n');
    await writeFile(join(tree, 'lib', 'python3.13', 'data.txt'), 'x'.repeat(3 * 1024 * 1024));
    const packed = await packArtifact({ installDir: tree, metadata, outDir: join(work, 'out'), strip: false, sourceDateEpoch: 1_700_000_000 });
    const structure = async (path: string) => (await validateArtifact(path)).checks.find((c) => c.id === 'structure');
    expect(await structure(packed.path)).toMatchObject({ ok: true });
    // A checksum file that is a directory is said to be one (it was "no checksum file").
    const checksum = (await validateArtifact(packed.path, { checksumFile: work })).checks.find((c) => c.id === 'checksum');
    expect(checksum).toMatchObject({ ok: false, detail: `the checksum file is a directory: ${work}` });

    const declared = 1024 * 1024;
    expect(extractLimit({ contents: { bytes: declared } })).toBeLessThan(packed.metadata.contents.bytes);
    const understated = await tgz(join(work, 'understated.tgz'), await entriesOf(packed.path, (m) => void (m.contents.bytes = declared)));
    expect(await structure(understated)).toMatchObject({ ok: false, detail: expect.stringMatching(/bytes/) });
  });

  it("checks the name as index add and publish do: a gzip artifact named .tar.zst fails the name check, naming the right name", async () => {
    const tree = join(work, 'tree-name');
    await mkdir(join(tree, 'lib', 'python3.13'), { recursive: true });
    await writeFile(join(tree, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF\n');
    const packed = await packArtifact({ installDir: tree, metadata, outDir: join(work, 'out-name'), strip: false, sourceDateEpoch: 1_700_000_000 });
    const nameCheck = async (path: string) => (await validateArtifact(path, { checksumFile: `${packed.path}.sha256` })).checks.find((c) => c.id === 'name');
    expect(await nameCheck(packed.path)).toMatchObject({ ok: true, detail: basename(packed.path) });
    const zst = join(work, 'out-name', basename(packed.path).replace(/\.tgz$/, '.tar.zst'));
    await copyFile(packed.path, zst);
    // x86_64 named: not an artifact name (x86_64 is left out), said with the name it should have.
    const named = join(work, 'out-name', basename(packed.path).replace(/-build1\.tgz$/, '-x86_64-build1.tgz'));
    await copyFile(packed.path, named);
    expect(await nameCheck(named)).toMatchObject({ ok: false, detail: `'${basename(named)}' is not an artifact file name; name it ${basename(packed.path)}, as cpy build did: cpython-<version>-<os><osversion>[-<arch>]-build<N>.tgz (.tar.zst for zstd), which installers choose by` });
    expect(await nameCheck(zst)).toEqual({
      id: 'name',
      ok: false,
      detail: `the name ${basename(zst)} says zstd compression; the file is gzip-compressed; name it ${basename(packed.path)}, as cpy build did: an artifact's name says what it holds, and installers go by both (they choose how to read it by its name: a .tgz is unpacked as it downloads)`,
    });
  });

  it('checks the copies beside the artifact as index add does: a .sha256 naming another file, a .json that is not its metadata', async () => {
    const tree = join(work, 'tree-sides');
    await mkdir(join(tree, 'lib', 'python3.13'), { recursive: true });
    await writeFile(join(tree, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF\n');
    const packed = await packArtifact({ installDir: tree, metadata, outDir: join(work, 'out-sides'), strip: false, sourceDateEpoch: 1_700_000_000 });
    const byId = async (id: string) => (await validateArtifact(packed.path)).checks.find((c) => c.id === id);
    expect(await byId('checksum')).toMatchObject({ ok: true });
    expect(await byId('side-metadata')).toEqual({ id: 'side-metadata', ok: true, detail: `${basename(packed.path)}.json is a copy of it` });
    const other = basename(packed.path).replace('-build1.', '-build2.');
    await writeFile(`${packed.path}.sha256`, `${packed.sha256}  ${other}\n`);
    expect(await byId('checksum')).toEqual({
      id: 'checksum',
      ok: false,
      detail: `${basename(packed.path)}.sha256 is the checksum of ${other}, not of ${basename(packed.path)}: sha256sum -c would check that file, and installers refuse it`,
    });
    await expect(checkSideChecksum(packed.path)).rejects.toMatchObject({ code: 'CPY_INDEX_BAD_ENTRY', message: expect.stringContaining(`is the checksum of ${other}`) });
    // The digest alone (sha256sum f | cut -d' ' -f1): sha256sum -c finds no line in it; it passed.
    await writeFile(`${packed.path}.sha256`, `${packed.sha256}\n`);
    expect(await byId('checksum')).toEqual({ id: 'checksum', ok: false, detail: `${basename(packed.path)}.sha256 holds the sha256 alone: sha256sum -c reads "<sha256>  ${basename(packed.path)}" lines, and says it finds none` });
    await expect(checkSideChecksum(packed.path)).rejects.toMatchObject({ code: 'CPY_INDEX_BAD_ENTRY', message: expect.stringContaining('holds the sha256 alone') });
    const side = JSON.parse(await readFile(`${packed.path}.json`, 'utf8')) as { version: string };
    await writeFile(`${packed.path}.json`, JSON.stringify({ ...side, version: '3.13.4' }));
    expect(await byId('side-metadata')).toMatchObject({ ok: false, detail: expect.stringContaining(`disagrees with the metadata inside ${basename(packed.path)}: version is "3.13.4" beside it`) });
    // None beside it: nothing to check, and not a check.
    await rm(`${packed.path}.json`);
    expect(await byId('side-metadata')).toBeUndefined();
  });

  // A tmpfs with room for a few KiB: the tree cannot be unpacked there.
  (process.getuid?.() === 0 ? it : it.skip)("on a disk with no room for the tree, or a read-only one, it says so (Node's ENOSPC or EROFS, naming where), not that the artifact's structure failed", async () => {
    const tree = join(work, 'tree-full');
    await mkdir(join(tree, 'lib', 'python3.13'), { recursive: true });
    await writeFile(join(tree, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF\n');
    await writeFile(join(tree, 'lib', 'python3.13', 'data.txt'), 'x'.repeat(1024 * 1024));
    const packed = await packArtifact({ installDir: tree, metadata, outDir: join(work, 'out-full'), strip: false, sourceDateEpoch: 1_700_000_000 });
    const disk = join(work, 'small');
    await mkdir(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'cpy-test-small', disk]);
    try {
      const error = await validateArtifact(packed.path, { workDir: disk }).then(
        () => null,
        (e: unknown) => e as NodeJS.ErrnoException,
      );
      expect(error).toMatchObject({ code: 'ENOSPC', path: expect.stringMatching(new RegExp(`^${disk}/`)) });
    } finally {
      execFileSync('umount', [disk]);
    }
    // A read-only one: the tree's directory cannot even be made. The disk's error too.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'cpy-test-ro', disk]);
    try {
      const error = await validateArtifact(packed.path, { workDir: disk }).then(
        () => null,
        (e: unknown) => e as NodeJS.ErrnoException,
      );
      expect(error).toMatchObject({ code: 'EROFS', path: join(disk, 'tree') });
    } finally {
      execFileSync('umount', [disk]);
    }
  });
});
