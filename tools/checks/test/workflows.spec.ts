// The GitHub Actions workflows cannot run here; they are kept correct by GitHub's own
// workflow parser and schema (@actions/workflow-parser).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { repoRoot } from '@cpy/harness';

const run = promisify(execFile);
const SCRIPT = join(repoRoot(), 'tools', 'checks', 'scripts', 'validate-workflows.mjs');
const WORKFLOWS = join(repoRoot(), '.github', 'workflows');
let work: string;

const validate = (files: string[]) =>
  run(process.execPath, [SCRIPT, ...files]).then(
    (r) => ({ code: 0, report: JSON.parse(r.stdout) as Record<string, string[]> }),
    (e: { code?: number; stdout?: string }) => ({ code: e.code ?? 1, report: JSON.parse(e.stdout || '{}') as Record<string, string[]> }),
  );

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-workflows-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('.github/workflows', () => {
  it('every workflow is valid for GitHub Actions: the affected CI and the release matrix', async () => {
    const files = (await readdir(WORKFLOWS)).filter((f) => f.endsWith('.yml')).map((f) => join(WORKFLOWS, f));
    expect(files.map((f) => f.split('/').pop()).sort()).toEqual(['ci.yml', 'refresh.yml', 'release.yml']);
    const r = await validate(files);
    expect(r.report).toEqual(Object.fromEntries(files.map((f) => [f, []])));
    expect(r.code).toBe(0);
  });

  it('the release workflow builds versions x images with nx (validated and fully tested in the builder), publishes and prunes', async () => {
    const text = await readFile(join(WORKFLOWS, 'release.yml'), 'utf8');
    for (const step of ['npx nx run cli:build-cpython', '--builder=container --image=${{ matrix.image }}', '--runTests=full', 'sha256sum -c', 'cpy.cjs publish', 'cpy.cjs releases prune', 'NX_CLOUD_ACCESS_TOKEN']) {
      expect(text).toContain(step);
    }
    const ci = await readFile(join(WORKFLOWS, 'ci.yml'), 'utf8');
    expect(ci).toContain('npx nx affected -t lint typecheck test build');
    // The aarch64 cross build runs once per push to main, in a job of its own (issue 22).
    expect(ci).toMatch(/\n {2}aarch64:\n {4}if: github\.event_name == 'push'\n[\s\S]*npx nx run cli:build-cpython-aarch64/);
  });

  it('the release job signs with the secret of the release environment (with required reviewers) and attests the provenance of every built file before publishing', async () => {
    const text = await readFile(join(WORKFLOWS, 'release.yml'), 'utf8');
    const job = text.slice(text.indexOf('\n  publish:\n'));
    expect(job.length).toBeLessThan(text.length);
    // Attestations need an OIDC token and the attestations permission, besides contents: write for the releases.
    const permissions = /\n {4}permissions:\n((?: {6}.*\n)+)/.exec(job)![1]!;
    for (const p of ['contents: write', 'id-token: write', 'attestations: write']) expect(permissions).toContain(p);
    // Steps, in order: the attestation of dist/artifacts/* first, then publish and prune, each with the secret in its own env.
    const steps = job.split(/\n {6}- /).slice(1);
    const at = (needle: string) => steps.findIndex((s) => s.includes(needle));
    const attest = at('uses: actions/attest-build-provenance@v2');
    const publish = at('cpy.cjs publish');
    const prune = at('cpy.cjs releases prune');
    expect(attest).toBeGreaterThan(at('actions/download-artifact@v4'));
    expect(steps[attest]).toMatch(/with:\n\s+subject-path: dist\/artifacts\/\*/);
    expect(publish).toBeGreaterThan(attest);
    for (const i of [publish, prune]) {
      expect(steps[i]).toContain('CPY_SIGNING_KEY: ${{ secrets.CPY_SIGNING_KEY }}');
      expect(steps[i]).toContain('CPY_SIGNING_PASSPHRASE: ${{ secrets.CPY_SIGNING_PASSPHRASE }}');
    }
    // The secret reaches only the steps that sign: not the workflow's or the job's env, not npm ci or the build.
    expect(text.match(/secrets\.CPY_SIGNING_KEY/g)).toHaveLength(2);
    expect(text.match(/secrets\.CPY_SIGNING_PASSPHRASE/g)).toHaveLength(2);
    // The key through the environment, never as a flag (a file on the runner is not needed).
    expect(text).not.toContain('--signing-key');
    // The job that holds the key runs in an environment a maintainer gates (docs/publishing.md).
    expect(job).toMatch(/\n {4}environment: release\n/);
    // The way out of CPY_PUBLISH_INDEX_UNTRUSTED (a rotation, an unsigned run before): inputs that reach both steps as flags, through the env.
    for (const input of ['index-signer', 'adopt-index']) expect(text).toMatch(new RegExp(`\\n {6}${input}:\\n {8}description: .+\\n {8}required: false`));
    for (const i of [publish, prune]) {
      expect(steps[i]).toContain('INDEX_SIGNER: ${{ inputs.index-signer }}');
      expect(steps[i]).toContain('ADOPT_INDEX: ${{ inputs.adopt-index }}');
      expect(steps[i]).toContain('--index-signer "$INDEX_SIGNER"');
      expect(steps[i]).toContain('--adopt-index "$ADOPT_INDEX"');
      expect(steps[i]).toMatch(/--register registry "\$@"/);
    }
  });

  it('the monthly refresh runs cpy outdated against the published index and starts release.yml for each build number', async () => {
    const text = await readFile(join(WORKFLOWS, 'refresh.yml'), 'utf8');
    for (const step of ["cron: '17 5 1 * *'", 'cpy.cjs outdated --index', 'releases/download/cpy-index/index.json', '--json', 'report.dispatch', 'gh workflow run release.yml', '-f versions="$versions" -f build="$build"', 'actions: write']) {
      expect(text).toContain(step);
    }
    // What it dispatches matches what release.yml takes.
    const release = await readFile(join(WORKFLOWS, 'release.yml'), 'utf8');
    expect(release).toMatch(/inputs:\n\s+versions:[\s\S]*build:/);
  });

  it("the refresh's outdated step tells work to do (exit 1, a report) from a failure (exit 1, an error)", async () => {
    const text = await readFile(join(WORKFLOWS, 'refresh.yml'), 'utf8');
    // The step's script, as GitHub runs it (bash -e), with a node that answers for cpy.cjs as told.
    const script = /id: outdated\n\s+run: \|\n((?: {10}.*\n|\n)+)/.exec(text)![1]!.replace(/^ {10}/gm, '');
    const bin = join(work, 'bin');
    await run('mkdir', ['-p', bin]);
    await writeFile(join(bin, 'node'), `#!/bin/sh\nif [ "$1" = apps/cli/bin/cpy.cjs ]; then printf '%s\\n' "$FAKE_JSON"; exit "$FAKE_CODE"; fi\nexec "${process.execPath}" "$@"\n`, { mode: 0o755 });
    const step = async (json: string, code: number) => {
      const output = join(work, 'github-output');
      await writeFile(output, '');
      const r = await run('bash', ['-e', '-c', script], { cwd: work, env: { ...process.env, PATH: `${bin}:${process.env['PATH']}`, GITHUB_OUTPUT: output, GITHUB_REPOSITORY: 'acme/python-builds', FAKE_JSON: json, FAKE_CODE: String(code) } }).then(
        () => 0,
        (e: { code?: number }) => e.code ?? 1,
      );
      return { exit: r, output: await readFile(output, 'utf8') };
    };
    expect(await step('{"outcome":"success","command":"outdated","outdated":{"upToDate":false}}', 1)).toEqual({ exit: 0, output: 'work=1\n' });
    expect(await step('{"outcome":"success","command":"outdated","outdated":{"upToDate":true}}', 0)).toEqual({ exit: 0, output: 'work=0\n' });
    expect(await step('{"outcome":"error","command":"outdated","error":{"code":"CPY_OUTDATED_UPSTREAM_UNAVAILABLE"}}', 1)).toEqual({ exit: 1, output: '' });
    expect(await step('', 1)).toEqual({ exit: 1, output: '' });
  });

  it('the validator does refuse a broken workflow', async () => {
    const broken = join(work, 'broken.yml');
    const text = await readFile(join(WORKFLOWS, 'release.yml'), 'utf8');
    await writeFile(broken, text.replace('runs-on: ubuntu-24.04', 'runs-on: ubuntu-24.04\n    stepz: []').replace('${{ matrix.version }} on', '${{ matrix.version }} on ${{ nosuch.context }}'));
    const r = await validate([broken]);
    expect(r.code).toBe(1);
    expect(r.report[broken]!.join('\n')).toMatch(/Unexpected value 'stepz'/);
    expect(r.report[broken]!.join('\n')).toMatch(/Unrecognized named-value: 'nosuch'/);
  });
});
