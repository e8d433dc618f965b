// The shared Jest preset (jest.preset.cjs), run by Jest itself on a throw-away project: a test
// that times out must fail alone, not take the next test file in the same worker down with it.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { repoRoot } from '@cpy/harness';

const run = promisify(execFile);
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-jest-preset-'));
  await mkdir(join(work, 'src'));
  // The preset as every project takes it, in one worker, files in a fixed order (a before b).
  await writeFile(
    join(work, 'jest.config.cjs'),
    `const preset = require(${JSON.stringify(join(repoRoot(), 'jest.preset.cjs'))});\n` +
      // (Its transform is named as a package, found from the repository.)
      `const transform = Object.fromEntries(Object.entries(preset.transform).map(([k, [name, o]]) => [k, [require.resolve(name, { paths: [${JSON.stringify(repoRoot())}] }), o]]));\n` +
      `module.exports = { ...preset, transform, rootDir: __dirname, reporters: ['default'], maxWorkers: 1, testSequencer: './sequencer.cjs' };\n`,
  );
  await writeFile(
    join(work, 'sequencer.cjs'),
    `const Sequencer = require(require.resolve('@jest/test-sequencer', { paths: [${JSON.stringify(repoRoot())}] })).default;\n` +
      `module.exports = class extends Sequencer { sort(tests) { return [...tests].sort((x, y) => x.path.localeCompare(y.path)); } };\n`,
  );
  // a: times out while its work goes on, and that work later writes to what it put on globalThis.
  await writeFile(
    join(work, 'src', 'a.spec.ts'),
    `it('times out', async () => {\n  (globalThis as Record<string, unknown>)['cpyLate'] = { n: 0 };\n` +
      `  setTimeout(() => { ((globalThis as Record<string, unknown>)['cpyLate'] as { n: number }).n = 1; }, 300);\n` +
      `  await new Promise((r) => setTimeout(r, 1000));\n}, 100);\n`,
  );
  await writeFile(join(work, 'src', 'b.spec.ts'), `it('passes', async () => {\n  await new Promise((r) => setTimeout(r, 800));\n  expect(1).toBe(1);\n});\n`);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('jest.preset.cjs', () => {
  it('fails only the file whose test timed out: a late write to a global does not fail the next file', async () => {
    const jest = join(repoRoot(), 'node_modules', 'jest', 'bin', 'jest.js');
    const r = await run(process.execPath, [jest, '--config', join(work, 'jest.config.cjs'), '--json'], {
      cwd: work,
      env: { ...process.env, NODE_OPTIONS: '--experimental-vm-modules' },
    }).catch((e: { stdout: string; stderr: string }) => e);
    const report = JSON.parse(r.stdout) as { testResults: { name: string; status: string; message: string }[] };
    const status = Object.fromEntries(report.testResults.map((t) => [t.name.split('/').pop(), t.status]));
    expect(status).toEqual({ 'a.spec.ts': 'failed', 'b.spec.ts': 'passed' });
    expect(report.testResults.map((t) => t.message).join('\n')).not.toMatch(/Maximum call stack/);
  });
});
