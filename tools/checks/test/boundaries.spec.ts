import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { repoRoot } from '@cpy/harness';

const run = promisify(execFile);

/**
 * Lints `source` as if it were the file `path` of the repository (nothing is written). With
 * `fromProject`, ESLint runs in the file's project (libs/core, with its eslint.config.mjs), as
 * `nx lint` and the pre-push gate run it, and the path is given relative to the project.
 */
async function lintAs(path: string, source: string, fromProject = false): Promise<{ exitCode: number; output: string }> {
  const eslint = `${repoRoot()}/node_modules/.bin/eslint`;
  const project = fromProject ? /^(libs|apps|tools)\/[^/]+\//.exec(path)![0] : '';
  const child = run(eslint, ['--stdin', '--stdin-filename', path.slice(project.length), '--format', 'stylish'], { cwd: `${repoRoot()}/${project}` });
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

  // These rules name workspace paths (libs/install/src/...): they must hold whether ESLint runs at
  // the root or in the project, where a path is relative to the project's own config.
  it.each([
    ['library code printing', 'libs/core/src/bad.ts', "console.log('x');\n", /Unexpected console statement/],
    ['library code exiting', 'libs/transfer/src/bad.ts', 'process.exit(1);\n', /Libraries throw CpyError; only apps exit/],
    ['install importing openpgp', 'libs/install/src/bad.ts', "import * as pgp from 'openpgp';\nexport const x = pgp;\n", /@cpy\/install stays light/],
    ["the install path importing zod's full API", 'libs/core/src/bad.ts', "import * as z from 'zod';\nexport const x = z;\n", /uses zod\/mini/],
    ["the CLI's install command importing zod's full API", 'apps/cli/src/commands/install.ts', "import * as z from 'zod';\nexport const x = z;\n", /uses zod\/mini/],
  ])('fails on %s, linted at the root and in its project', async (_name, path, source, message) => {
    for (const fromProject of [false, true]) {
      const r = await lintAs(path, source, fromProject);
      expect({ fromProject, exitCode: r.exitCode }).toEqual({ fromProject, exitCode: 1 });
      expect(r.output).toMatch(message);
    }
  });

  it('lets tests use the harness', async () => {
    const r = await lintAs(
      'libs/build/src/__tests__/ok.spec.ts',
      "import { startPythonMirror } from '@cpy/harness';\nexport const x = startPythonMirror;\n",
    );
    expect(r).toEqual({ exitCode: 0, output: '' });
  });
});
