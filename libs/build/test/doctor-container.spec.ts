import { describe, expect, it } from '@jest/globals';
import { aptInstallScript, requireBaseImage, requireContainerEngine, startContainer } from '@cpy/harness';
import { checkBuildHost } from '../src/index.js';
import { type Exec } from '../src/exec.js';

/**
 * The host check runs on the builder through an Exec: here, a minimal Debian
 * container. What it says to install must be exactly what makes it pass.
 */
describe('checkBuildHost on minimal Debian containers', () => {
  it.each(['bookworm', 'bullseye'] as const)(
    'on %s: reports what is missing, and its apt-get line makes the builder complete',
    async (suite) => {
      const engine = await requireContainerEngine();
      const container = await startContainer(engine, await requireBaseImage(engine, suite));
      try {
        const exec: Exec = (file, args, options = {}) => container.exec([file, ...args], { input: options.input });
        const before = await checkBuildHost({ exec, minFreeBytes: 1 });
        expect(before.ok).toBe(false);
        expect(before.os).toMatchObject({ id: 'debian', family: 'debian', versionId: suite === 'bookworm' ? '12' : '11' });
        expect(before.missing.critical).toEqual(
          expect.arrayContaining(['cc', 'make', 'pkg-config', 'ssl', 'sqlite3', 'uuid', 'lzma', 'bz2', 'ctypes', 'zlib', 'readline']),
        );
        expect(before.fix?.command).toMatch(/^apt-get install -y /);

        const packages = (before.fix?.command ?? '').replace(/^apt-get install -y /, '').split(' ');
        const install = await container.exec(['sh', '-c', aptInstallScript(packages)]);
        expect(install.stderr.split('\n').filter((l) => /^E:/.test(l))).toEqual([]);
        expect(install.exitCode).toBe(0);

        const after = await checkBuildHost({ exec, minFreeBytes: 1 });
        expect(after.missing).toEqual({ critical: [], optional: [] });
        expect(after.ok).toBe(true);
      } finally {
        await container.remove();
      }
    },
  );
});
