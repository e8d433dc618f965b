import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isCpyError } from '@cpy/artifact';
import { requireBaseImage, requireContainerEngine, startPythonMirror, type PythonMirror } from '@cpy/harness';
import { buildCPython, containerBuilder, fetchSource, parseBuildSpec, type FetchedSource } from '../src/index.js';

const run = promisify(execFile);
const CRITICAL = 'import ssl, sqlite3, uuid, _uuid, lzma, bz2, ctypes, zlib, readline; print(ssl.OPENSSL_VERSION)';

/** The newest GLIBC_x.y symbol version any ELF file under `dir` needs, read with objdump. */
async function glibcFloor(dir: string): Promise<string> {
  let best = [0, 0];
  for (const rel of await readdir(dir, { recursive: true })) {
    const path = join(dir, String(rel));
    const st = await stat(path).catch(() => null);
    if (!st?.isFile() || !(String(rel).endsWith('.so') || /\.so\.|bin\/python3\.\d+$/.test(String(rel)))) continue;
    const { stdout } = await run('objdump', ['-T', path], { maxBuffer: 64 * 1024 * 1024 }).catch(() => ({ stdout: '' }));
    for (const m of stdout.matchAll(/GLIBC_(\d+)\.(\d+)/g)) {
      const v = [Number(m[1]), Number(m[2])];
      if (v[0]! > best[0]! || (v[0] === best[0] && v[1]! > best[1]!)) best = v;
    }
  }
  return best.join('.');
}

let mirror: PythonMirror;
let work: string;
let source: FetchedSource;

beforeAll(async () => {
  mirror = await startPythonMirror();
  work = await mkdtemp(join(tmpdir(), 'cpy-build-real-'));
  source = await fetchSource('3.13.5', { mirrors: [mirror.url], cacheDir: join(work, 'cache'), env: {} });
});
afterAll(async () => {
  await mirror.close();
  await rm(work, { recursive: true, force: true });
});

describe('a real CPython 3.13.5 build (fast profile)', () => {
  it('on this host: the tree runs after being moved, imports every critical module, and its logs are on disk', async () => {
    const phases: string[] = [];
    const result = await buildCPython({
      spec: parseBuildSpec({ version: '3.13.5' }),
      source,
      workDir: join(work, 'host'),
      onEvent: (e) => void (e.type === 'phase' && phases.push(e.phase)),
    });
    expect(phases).toEqual(['provision', 'preflight', 'extract', 'configure', 'make', 'install', 'check']);
    expect(result.modules.present).toEqual(expect.arrayContaining(['ssl', 'sqlite3', 'uuid', 'lzma', 'bz2', 'ctypes', 'zlib', 'readline']));
    for (const log of ['configure', 'make', 'install']) expect((await stat(result.logs[log]!)).size).toBeGreaterThan(1000);

    const moved = join(work, 'moved', 'somewhere-else');
    await cp(result.installDir, moved, { recursive: true, verbatimSymlinks: true });
    await rm(result.stagingDir, { recursive: true, force: true });
    const { stdout } = await run(join(moved, 'bin', 'python3'), ['-c', CRITICAL], { env: {} });
    expect(stdout).toMatch(/^OpenSSL /);
    const { stdout: runpath } = await run('readelf', ['-d', join(moved, 'bin', 'python3')]);
    expect(runpath).toContain('[$ORIGIN/../lib]');
  });

  it('in a bullseye container: a missing libssl-dev stops it naming ssl and the package; with it, the tree needs no glibc newer than 2.31', async () => {
    const engine = await requireContainerEngine();
    const image = await requireBaseImage(engine, 'bullseye');
    const spec = parseBuildSpec({ version: '3.13.5', builder: { kind: 'container', image, engine: engine.name, provisionExclude: ['libssl-dev'] } });
    const builder = containerBuilder(spec.builder as Extract<typeof spec.builder, { kind: 'container' }>);
    const workDir = join(work, 'bullseye');
    try {
      let error: unknown;
      try {
        await buildCPython({ spec, source, workDir, builder });
      } catch (e) {
        error = e;
      }
      expect(isCpyError(error, 'CPY_BUILD_MISSING_DEPENDENCIES')).toBe(true);
      expect((error as Error).message).toMatch(/ssl \(libssl-dev\)/);

      const apt = await builder.exec('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'libssl-dev']);
      expect(apt.exitCode).toBe(0);
      const result = await buildCPython({ spec, source, workDir, builder });
      expect(result.os).toMatchObject({ id: 'debian', versionId: '11' });
      expect(result.modules.present).toEqual(expect.arrayContaining(['ssl', 'sqlite3', 'uuid', 'lzma', 'bz2', 'ctypes', 'zlib', 'readline']));
      const floor = await glibcFloor(result.installDir);
      const [major, minor] = floor.split('.').map(Number);
      expect(major).toBe(2);
      expect(minor).toBeLessThanOrEqual(31);
    } finally {
      await builder.stop();
    }
  });
});
