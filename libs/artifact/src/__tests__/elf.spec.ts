import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { gnuTriplet, packArtifact, type PythonRunner } from '../index.js';
import { packMetadata } from './pack-metadata.js';
import { elfArch, glibcFloor, readElf, treeArch } from '../elf.js';

// A real aarch64 shared object from Debian 12's libc6:arm64 (see __fixtures__/README.md).
const FIXTURE = new URL('./__fixtures__/libmemusage-arm64.so.gz', import.meta.url);

let work: string;
let arm64So: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-elf-'));
  arm64So = join(work, 'libmemusage.so');
  await writeFile(arm64So, gunzipSync(await readFile(FIXTURE)));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('readElf on aarch64 (EM_AARCH64, 183)', () => {
  it('reads the machine, DT_NEEDED, the soname and the GLIBC version needs as for x86_64', async () => {
    const info = await readElf(arm64So);
    expect(info).not.toBeNull();
    expect(info!.machine).toBe(183);
    expect(elfArch(info!.machine)).toBe('aarch64');
    expect(info!.needed).toEqual(['libc.so.6', 'ld-linux-aarch64.so.1']);
    expect(info!.soname).toBe('libmemusage.so');
    expect(info!.versions).toEqual({ 'ld-linux-aarch64.so.1': ['GLIBC_2.17'], 'libc.so.6': ['GLIBC_2.34', 'GLIBC_2.17'] });
    expect(glibcFloor([info!])).toBe('2.34');
  });

  it('tells x86_64 from aarch64, and refuses a tree that mixes them', async () => {
    const host = await readElf(process.execPath);
    const hostArch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
    expect(elfArch(host!.machine)).toBe(hostArch);
    const arm = (await readElf(arm64So))!;
    expect(treeArch([arm, arm])).toBe('aarch64');
    expect(treeArch([])).toBeNull();
    if (hostArch !== 'aarch64') expect(() => treeArch([host!, arm])).toThrow(/aarch64, x86_64/);
    expect(treeArch([{ ...arm, machine: 9999 }, arm])).toBe('aarch64');
    expect(gnuTriplet('aarch64')).toBe('aarch64-linux-gnu');
    expect(gnuTriplet('x86_64')).toBe('x86_64-linux-gnu');
  });
});

const metadata = (arch: string) => packMetadata(arch, 'aarch64-linux-gnu-gcc 12.2.0');

describe('packing an aarch64 tree', () => {
  let tree: string;
  beforeAll(async () => {
    tree = join(work, 'tree');
    await mkdir(join(tree, 'lib', 'python3.13', 'lib-dynload'), { recursive: true });
    await writeFile(join(tree, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF\n');
    await copyFile(arm64So, join(tree, 'lib', 'python3.13', 'lib-dynload', 'libmemusage.so'));
  });

  it('records aarch64, the glibc floor from the aarch64 files, and names the artifact for it', async () => {
    const packed = await packArtifact({ installDir: tree, metadata: metadata('aarch64'), outDir: join(work, 'out'), strip: false, sourceDateEpoch: 1_700_000_000 });
    expect(packed.fileName).toBe('cpython-3.13.5-debian12-aarch64-build1.tgz');
    expect(packed.metadata.platform).toEqual({ os: 'debian', osVersion: '12', arch: 'aarch64', libc: 'glibc', glibcFloor: '2.34' });
    // libc.so.6 and the loader are glibc's: the floor, not a package to install.
    expect(packed.metadata.runtime.needs).toEqual([]);
  });

  it('refuses metadata that names another architecture than the ELF files', async () => {
    await expect(packArtifact({ installDir: tree, metadata: metadata('x86_64'), outDir: join(work, 'out'), strip: false })).rejects.toMatchObject({
      code: 'CPY_ARTIFACT_ARCH_MISMATCH',
      message: expect.stringMatching(/ELF files are aarch64, but the metadata says x86_64/),
    });
  });

  // (On an arm64 host aarch64 is native: there is no foreign strip to run.)
  (process.arch === 'arm64' ? it.skip : it)("strips with the target's binutils (aarch64-linux-gnu-strip), run where foreignTools says", async () => {
    const calls: string[][] = [];
    const foreignTools: PythonRunner = async (file, args) => {
      calls.push([file, ...args]);
      return { exitCode: 0, stdout: '', stderr: '' };
    };
    await packArtifact({ installDir: tree, metadata: metadata('aarch64'), outDir: join(work, 'stripped'), foreignTools, sourceDateEpoch: 1_700_000_000 });
    // A copy in its own directory of the scratch directory (the output directory here): the tree stays as it is.
    expect(calls).toEqual([['aarch64-linux-gnu-strip', '--strip-unneeded', expect.stringMatching(new RegExp(`^${join(work, 'stripped')}/\\.cpy-pack-[^/]+/stripped/lib/python3\\.13/lib-dynload/libmemusage\\.so$`))]]);
    const failing: PythonRunner = async () => ({ exitCode: 1, stdout: '', stderr: 'aarch64-linux-gnu-strip: not found' });
    await expect(packArtifact({ installDir: tree, metadata: metadata('aarch64'), outDir: join(work, 'x'), foreignTools: failing })).rejects.toMatchObject({
      code: 'CPY_ARTIFACT_STRIP_FAILED',
      hint: expect.stringMatching(/binutils-aarch64-linux-gnu/),
    });
  });
});
