import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { repoRoot } from '@cpy/harness';

const run = promisify(execFile);

/** Lints `source` as if it were the file `path` of the repository (nothing is written). */
async function lintAs(path: string, source: string): Promise<{ exitCode: number; output: string }> {
  const eslint = `${repoRoot()}/node_modules/.bin/eslint`;
  const child = run(eslint, ['--stdin', '--stdin-filename', path, '--format', 'stylish'], { cwd: repoRoot() });
  child.child.stdin?.end(source);
  try {
    const { stdout } = await child;
    return { exitCode: 0, output: stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { exitCode: e.code, output: e.stdout + e.stderr };
  }
}

describe('module boundaries are enforced by lint', () => {
  it.each([
    ['install -> artifact', 'libs/install/src/ok.ts', "import { readArtifactMetadata } from '@cpy/artifact';\nexport const x = readArtifactMetadata;\n"],
    ['transfer -> core', 'libs/transfer/src/ok.ts', "import { CpyError } from '@cpy/core';\nexport const x = CpyError;\n"],
  ])('accepts a dependency the architecture allows (%s)', async (_name, path, source) => {
    const r = await lintAs(path, source);
    expect(r).toEqual({ exitCode: 0, output: '' });
  });

  it.each([
    ['build importing publish', 'libs/build/src/bad.ts', "import { releaseTag } from '@cpy/publish';\nexport const x = releaseTag;\n", /scope:build.*can not depend on libs tagged with "scope:publish"/],
    ['publish importing build', 'libs/publish/src/bad.ts', "import { checkBuildHost } from '@cpy/build';\nexport const x = checkBuildHost;\n", /scope:publish.*can not depend on libs tagged with "scope:build"/],
    ['a library importing an app', 'libs/publish/src/bad.ts', "import * as f from '@cpy/feature';\nexport const x = f;\n", /"type:lib" can only depend on libs tagged with "type:lib"/],
    ['install importing build', 'libs/install/src/bad.ts', "import { checkBuildHost } from '@cpy/build';\nexport const x = checkBuildHost;\n", /"scope:install" can only depend on libs tagged with "scope:core", "scope:artifact"/],
    ['transfer importing artifact', 'libs/transfer/src/bad.ts', "import { readArtifactMetadata } from '@cpy/artifact';\nexport const x = readArtifactMetadata;\n", /"scope:transfer" can only depend on libs tagged with "scope:core"/],
    ['core importing artifact', 'libs/core/src/bad.ts', "import { readArtifactMetadata } from '@cpy/artifact';\nexport const x = readArtifactMetadata;\n", /Circular dependency between "core" and "artifact"|"scope:core" can only depend on libs tagged with "scope:core"/],
    ['install importing openpgp', 'libs/install/src/bad.ts', "import * as pgp from 'openpgp';\nexport const x = pgp;\n", /@cpy\/install stays light/],
    ['install spawning build tools with execa', 'libs/install/src/bad.ts', "import { execa } from 'execa';\nexport const x = execa;\n", /@cpy\/install stays light/],
    ['library code importing the test harness', 'libs/build/src/bad.ts', "import { startPythonMirror } from '@cpy/harness';\nexport const x = startPythonMirror;\n", /can not depend on libs tagged with|can only depend on libs tagged with/],
  ])('fails on %s', async (_name, path, source, message) => {
    const r = await lintAs(path, source);
    expect(r.exitCode).toBe(1);
    expect(r.output).toMatch(message);
  });

  it('lets tests use the harness', async () => {
    const r = await lintAs(
      'libs/build/src/__tests__/ok.spec.ts',
      "import { startPythonMirror } from '@cpy/harness';\nexport const x = startPythonMirror;\n",
    );
    expect(r).toEqual({ exitCode: 0, output: '' });
  });
});
