import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { packArtifact } from '../index.js';
import { packMetadata } from './pack-metadata.js';

const run = promisify(execFile);
const metadata = packMetadata();

let work: string;
let tree: string;
const program = () => join(tree, 'bin', 'python3.13');
/** The section names of an ELF file. */
const sections = async (file: string) => (await run('readelf', ['-S', '-W', file])).stdout;

beforeAll(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'cpy-pack-strip-')));
  tree = join(work, 'tree');
  await mkdir(join(tree, 'lib', 'python3.13'), { recursive: true });
  await mkdir(join(tree, 'bin'));
  await writeFile(join(tree, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF\n');
  // An executable with debug information, as a build's python3.13 has.
  await writeFile(join(work, 'main.c'), 'int main(void) { return 0; }\n');
  await run('gcc', ['-g', '-O0', '-o', program(), join(work, 'main.c')]);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The file `name` of the tree, as packed in `tgz`, unpacked under `dir`. */
async function packed(tgz: string, dir: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await run('tar', ['-xzf', tgz, '-C', dir, `opt/python-3.13.5/${name}`]);
  return join(dir, 'opt', 'python-3.13.5', name);
}

describe('stripping a tree as it is packed', () => {
  it('strips copies, never the tree: packed again (a build with its test result, or with --debug-symbols after the build packed it), the symbols are still there', async () => {
    for (const round of ['first', 'again']) {
      const out = join(work, `out-${round}`);
      const artifact = await packArtifact({ installDir: tree, metadata, outDir: out, debugSymbols: true, sourceDateEpoch: 1_700_000_000 });
      expect(await sections(program())).toMatch(/\.debug_info/);
      const binary = await packed(artifact.path, join(work, `unpacked-${round}`), 'bin/python3.13');
      expect(await sections(binary)).not.toMatch(/\.debug_info/);
      expect(await sections(binary)).toMatch(/\.gnu_debuglink/);
      // The debug asset holds the symbols each time (packed again, it held nothing: the tree was stripped).
      const symbols = await packed(artifact.debugSymbols!.path, join(work, `debug-${round}`), 'bin/.debug/python3.13.debug');
      expect(await sections(symbols)).toMatch(/\.debug_info/);
      expect(artifact.metadata.contents.stripped).toBe(true);
      expect((await readdir(out)).filter((n) => n.startsWith('.'))).toEqual([]);
    }
    // --no-strip packs the binary as it is (it was already stripped, and its metadata said otherwise).
    const unstripped = await packArtifact({ installDir: tree, metadata, outDir: join(work, 'out-no-strip'), strip: false, sourceDateEpoch: 1_700_000_000 });
    expect(unstripped.metadata.contents.stripped).toBe(false);
    expect(await sections(await packed(unstripped.path, join(work, 'unpacked-no-strip'), 'bin/python3.13'))).toMatch(/\.debug_info/);
  });

  it('stopped (Ctrl-C: its signal aborts) while it strips or writes: rejects with the signal\'s reason, nothing left in the output directory', async () => {
    let stopped = 0;
    for (const after of [0, 1, 5, 20]) {
      const controller = new AbortController();
      const out = join(work, `out-stopped-${after}`);
      // Aborted at once, or after a few of its steps (each strip, copy or tar entry looks).
      const packing = packArtifact({ installDir: tree, metadata, outDir: out, debugSymbols: true, sourceDateEpoch: 1_700_000_000, signal: controller.signal });
      if (after === 0) controller.abort();
      else setTimeout(() => controller.abort(), after);
      const settled = await packing.then(() => 'packed', (error: unknown) => (error as Error).name);
      // Aborted before its first step it must stop; later, it may have finished first.
      expect([after, settled]).toEqual([after, after === 0 ? 'AbortError' : expect.stringMatching(/^(AbortError|packed)$/)]);
      if (settled === 'AbortError') stopped++;
      const left = await readdir(out).catch(() => []);
      expect(left.filter((n) => n.startsWith('.'))).toEqual([]);
      if (settled === 'AbortError') expect(left).toEqual([]);
    }
    expect(stopped).toBeGreaterThan(0);
  });

  it('packed again into the same directory: what the earlier pack left that is not this artifact\'s goes (a side asset not written now, a signature of other bytes); a signature of the same bytes stays', async () => {
    const out = join(work, 'out-again');
    const first = await packArtifact({ installDir: tree, metadata, outDir: out, debugSymbols: true, sourceDateEpoch: 1_700_000_000 });
    const debug = first.debugSymbols!.fileName;
    for (const name of [first.fileName, debug]) await writeFile(join(out, `${name}.asc`), 'a signature\n');
    expect(first.removed).toEqual([]);
    // Without --debug-symbols: the debug asset goes, and the binaries differ (no .gnu_debuglink), so the signature goes.
    const second = await packArtifact({ installDir: tree, metadata, outDir: out, sourceDateEpoch: 1_700_000_000 });
    expect(second.removed).toEqual([`${first.fileName}.asc`, debug, `${debug}.sha256`, `${debug}.asc`]);
    expect((await readdir(out)).sort()).toEqual([second.fileName, `${second.fileName}.json`, `${second.fileName}.sha256`].sort());
    // The same bytes again: a signature made of them stays.
    await writeFile(join(out, `${second.fileName}.asc`), 'a signature\n');
    const third = await packArtifact({ installDir: tree, metadata, outDir: out, sourceDateEpoch: 1_700_000_000 });
    expect([third.sha256, third.removed]).toEqual([second.sha256, []]);
    expect(await readFile(join(out, `${second.fileName}.asc`), 'utf8')).toBe('a signature\n');
  });

  it('a strip that fails: what strip said, not its command line; nothing left in the output directory, the tree as it was', async () => {
    // An ELF file strip refuses (its section headers gone): strip fails on it as on any fault of its own.
    const broken = join(work, 'broken-tree');
    await run('cp', ['-a', tree, broken]);
    const elf = await readFile(program());
    elf.writeBigUInt64LE(0n, 0x28);
    elf.writeUInt16LE(0, 0x3c);
    elf.writeUInt16LE(0, 0x3e);
    await writeFile(join(broken, 'bin', 'python3.13'), elf);
    const out = join(work, 'out-failing');
    await expect(packArtifact({ installDir: broken, metadata, outDir: out, debugSymbols: true, sourceDateEpoch: 1_700_000_000 })).rejects.toMatchObject({
      code: 'CPY_ARTIFACT_DEBUG_SYMBOLS_FAILED',
      message: expect.stringMatching(/^objcopy --only-keep-debug failed: objcopy: error: the input file '.*python3\.13' has no sections$/),
      hint: 'see what objcopy said above; or pack without --debug-symbols',
    });
    await expect(packArtifact({ installDir: broken, metadata, outDir: out, sourceDateEpoch: 1_700_000_000 })).rejects.toMatchObject({
      code: 'CPY_ARTIFACT_STRIP_FAILED',
      message: expect.stringMatching(/^strip failed: strip: error: the input file '.*python3\.13' has no sections$/),
      hint: 'see what strip said above; or pack with --no-strip',
    });
    expect(await readdir(out)).toEqual([]);
    expect((await readFile(join(broken, 'bin', 'python3.13'))).equals(elf)).toBe(true);
  });
});
