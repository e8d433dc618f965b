// The pre-push gate (.githooks/pre-push, CA-006), with real git pushes. The repository is a
// `git clone --shared` of this one's HEAD in a temporary directory, with this checkout's
// node_modules linked in (the workspace packages, node_modules/@cpy/*, point at the clone's
// own sources), the working copy of the hook committed into it, the root package.json's
// `hooks` script run there, and a local bare repository as its origin.
//
// The pushes that must run the checks change tools/checks only: the one project nothing
// depends on, so the real `nx affected` lints and type-checks one project (its dependencies'
// builds come from the Nx cache), about 20 s a push. The conformance table takes minutes and
// containers, so the case that needs it is checked with CPY_PRE_PUSH_PLAN_ONLY, which prints
// the hook's commands and refuses the push without running them.
//
// The cases run in order and share the clone and the remote: each starts from main.
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { repoRoot } from '@cpy/harness';

const root = repoRoot();

interface Run {
  readonly code: number;
  /** stdout and stderr together, without colours. */
  readonly output: string;
}

/**
 * The environment of every command: this one without Nx's and git's own variables (a test run
 * by Nx must not hand its workspace to the Nx inside the clone), plus a git identity.
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(NX_|GIT_)/.test(k) && k !== 'CPY_PRE_PUSH_PLAN_ONLY') env[k] = v;
  }
  return {
    ...env,
    NX_DAEMON: 'false',
    NX_NO_CLOUD: 'true',
    NX_TUI: 'false',
    GIT_AUTHOR_NAME: 'cpy test',
    GIT_AUTHOR_EMAIL: 'test@cpy.invalid',
    GIT_COMMITTER_NAME: 'cpy test',
    GIT_COMMITTER_EMAIL: 'test@cpy.invalid',
    GIT_TERMINAL_PROMPT: '0',
    ...extra,
  };
}

/** Runs a command; resolves with its exit code and output, never rejects for a non-zero exit. */
function run(cmd: string, args: readonly string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: cleanEnv(env), maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: stripVTControlCharacters(`${stdout}${stderr}`) });
    });
  });
}

let work: string;
let ws: string;
let remote: string;

const git = async (...args: string[]) => {
  const r = await run('git', args, ws);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed (${r.code}):\n${r.output}`);
  return r.output.trim();
};
const push = (args: string[], env: Record<string, string> = {}) => run('git', ['push', ...args], ws, env);
/** The remote's branches, by name. */
const remoteBranches = async () => {
  const r = await run('git', ['ls-remote', '--heads', remote], ws);
  return Object.fromEntries(
    r.output
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [sha = '', ref = ''] = line.split('\t');
        return [ref.replace('refs/heads/', ''), sha];
      }),
  );
};

/** A new branch from main with one commit writing `files` (path: content); returns its sha. */
async function commitOnBranch(branch: string, files: Record<string, string>): Promise<string> {
  await git('switch', '-q', '-C', branch, 'main');
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(ws, path, '..'), { recursive: true });
    await writeFile(join(ws, path), text);
  }
  await git('add', '--', ...Object.keys(files));
  await git('commit', '-q', '-m', `${branch}: ${Object.keys(files).join(', ')}`);
  return git('rev-parse', 'HEAD');
}

/** Links this checkout's node_modules into the clone, with the workspace packages pointing at the clone. */
async function linkNodeModules(): Promise<void> {
  const from = join(root, 'node_modules');
  const to = join(ws, 'node_modules');
  await mkdir(join(to, '@cpy'), { recursive: true });
  for (const entry of await readdir(from)) {
    if (entry !== '@cpy') await symlink(join(from, entry), join(to, entry));
  }
  // Relative links (../../libs/install): they resolve inside the clone.
  for (const pkg of await readdir(join(from, '@cpy'))) {
    await symlink(await readlink(join(from, '@cpy', pkg)), join(to, '@cpy', pkg));
  }
  // Dependencies npm nested under a workspace package (a version the root does not have).
  for (const group of ['apps', 'libs', 'tools']) {
    for (const project of await readdir(join(root, group))) {
      const nested = join(root, group, project, 'node_modules');
      if (existsSync(nested) && existsSync(join(ws, group, project))) await symlink(nested, join(ws, group, project, 'node_modules'));
    }
  }
}

beforeAll(async () => {
  if (!existsSync(join(root, '.git'))) throw new Error(`${root} is not a git work tree: the pre-push test clones it`);
  work = await mkdtemp(join(tmpdir(), 'cpy-pre-push-'));
  ws = join(work, 'ws');
  remote = join(work, 'remote.git');
  const cloned = await run('git', ['clone', '-q', '--shared', root, ws], work);
  if (cloned.code !== 0) throw new Error(`git clone failed:\n${cloned.output}`);
  await linkNodeModules();
  await git('switch', '-q', '-C', 'main');

  // The hook under test is this checkout's, committed or not.
  await mkdir(join(ws, '.githooks'), { recursive: true });
  await copyFile(join(root, '.githooks', 'pre-push'), join(ws, '.githooks', 'pre-push'));
  await chmod(join(ws, '.githooks', 'pre-push'), 0o755);
  await git('add', '.githooks/pre-push');
  await git('commit', '-q', '--allow-empty', '-m', 'the pre-push hook under test');

  // Enabled as a contributor enables it: the root package.json's `hooks` script.
  const { scripts } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  expect(scripts['hooks']).toBe('git config core.hooksPath .githooks');
  const hooks = await run('sh', ['-c', scripts['hooks'] ?? ''], ws);
  expect(hooks.code).toBe(0);
  expect(await git('config', 'core.hooksPath')).toBe('.githooks');

  const bare = await run('git', ['init', '-q', '--bare', remote], work);
  if (bare.code !== 0) throw new Error(`git init --bare failed:\n${bare.output}`);
  await git('remote', 'set-url', 'origin', remote);
  await git('push', '-q', '--no-verify', 'origin', 'main');
  await git('fetch', '-q', '--prune', 'origin');
  await git('remote', 'set-head', 'origin', 'main');
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the pre-push hook (.githooks/pre-push)', () => {
  it('refuses a push whose change breaks lint: the failure and the command to run again are printed, and nothing reaches the remote', async () => {
    const main = await git('rev-parse', 'main');
    const head = await commitOnBranch('broken', { 'tools/checks/test/hook-probe.ts': 'export var probe = 2;\n' });

    const r = await push(['origin', 'broken']);

    expect(r.code).not.toBe(0);
    // A new branch: checked from its merge-base with origin's default branch, by the real nx.
    const command = `npx nx affected -t lint typecheck test --base=${main} --head=${head}`;
    expect(r.output).toContain(`pre-push: running: ${command}`);
    expect(r.output).toMatch(/hook-probe\.ts\s+1:8\s+error\s+Unexpected var, use let or const instead\s+no-var/);
    expect(r.output).toMatch(/Failed tasks:\s+- checks:lint/);
    expect(r.output).toContain(`pre-push: FAILED: ${command}`);
    expect(r.output).toContain(`pre-push: run it again with:\npre-push:   ${command}\n`);
    expect(r.output).toContain('pre-push: push refused');
    // Only the project the change touches.
    expect(r.output).toContain('for project checks and');
    expect(r.output).not.toMatch(/nx run (install|transfer|artifact|feature|cli):(lint|test)/);
    expect(await remoteBranches()).toEqual({ main });
  }, 300_000);

  it('lets a good push through, checking the range from the remote\'s old sha, with a one-line summary', async () => {
    const old = await git('rev-parse', 'main');
    await git('switch', '-q', 'main');
    await writeFile(join(ws, 'tools/checks/test/hook-probe.ts'), 'export const probe = 1;\n');
    await git('add', 'tools/checks/test/hook-probe.ts');
    await git('commit', '-q', '-m', 'a good change');
    const head = await git('rev-parse', 'HEAD');

    const r = await push(['origin', 'main']);

    expect(r.output).toContain(`pre-push: running: npx nx affected -t lint typecheck test --base=${old} --head=${head}`);
    expect(r.output).toMatch(/nx run checks:lint/);
    const summary = r.output.split('\n').filter((l) => l.startsWith('pre-push: passed:'));
    expect(summary).toEqual([
      expect.stringMatching(
        new RegExp(`^pre-push: passed: main \\(${old.slice(0, 9)}\\.\\.${head.slice(0, 9)}\\): .*conformance table not needed.*; 1 step\\(s\\) in \\d+s$`),
      ),
    ]);
    expect(r.code).toBe(0);
    expect((await remoteBranches())['main']).toBe(head);
  }, 300_000);

  it('is skipped by git push --no-verify', async () => {
    await commitOnBranch('broken', { 'tools/checks/test/hook-probe.ts': 'export var probe = 2;\n' });
    const head = await git('rev-parse', 'HEAD');

    const r = await push(['--no-verify', 'origin', 'broken']);

    expect(r.output).not.toContain('pre-push:');
    expect(r.code).toBe(0);
    expect((await remoteBranches())['broken']).toBe(head);
  }, 60_000);

  it('lets a branch deletion through without running anything', async () => {
    await git('switch', '-q', 'main');

    const r = await push(['origin', '--delete', 'broken']);

    expect(r.output).toContain('pre-push: refs/heads/broken: deleted, nothing to check');
    expect(r.output).not.toContain('running:');
    expect(r.code).toBe(0);
    expect(Object.keys(await remoteBranches())).toEqual(['main']);
  }, 60_000);

  it('adds the conformance table when apps/feature or libs/install changes, and checks each range once (plan only)', async () => {
    const main = await git('rev-parse', 'main');
    const plan = (output: string) =>
      output
        .split('\n')
        .filter((l) => l.startsWith('pre-push: plan: '))
        .map((l) => l.slice('pre-push: plan: '.length));

    const install = await commitOnBranch('contract', { 'libs/install/src/hook-probe.ts': 'export const probe = 1;\n' });
    // Two refs, one commit: one range.
    const both = await push(['origin', 'contract', 'contract:refs/heads/contract-copy'], { CPY_PRE_PUSH_PLAN_ONLY: '1' });
    expect(plan(both.output)).toEqual([
      `npx nx affected -t lint typecheck test --base=${main} --head=${install}`,
      'npx nx run feature:integration --testPathPatterns=conformance',
    ]);
    expect(both.output).toContain('pre-push: CPY_PRE_PUSH_PLAN_ONLY is set: nothing was run, push refused');
    expect(both.code).not.toBe(0);

    const feature = await commitOnBranch('feature-doc', { 'apps/feature/hook-probe.md': 'probe\n' });
    expect(plan((await push(['origin', 'feature-doc'], { CPY_PRE_PUSH_PLAN_ONLY: '1' })).output)).toEqual([
      `npx nx affected -t lint typecheck test --base=${main} --head=${feature}`,
      'npx nx run feature:integration --testPathPatterns=conformance',
    ]);

    const checks = await commitOnBranch('checks-only', { 'tools/checks/test/hook-probe.ts': 'export const probe = 3;\n' });
    // Uncommitted changes are checked along with the commit, and said so.
    await writeFile(join(ws, 'tools/checks/test/hook-probe.ts'), 'export const probe = 5;\n');
    const dirty = await push(['origin', 'checks-only'], { CPY_PRE_PUSH_PLAN_ONLY: '1' });
    await git('checkout', '--', 'tools/checks/test/hook-probe.ts');
    expect(plan(dirty.output)).toEqual([`npx nx affected -t lint typecheck test --base=${main} --head=${checks}`]);
    expect(dirty.output).toContain('pre-push: warning: uncommitted changes to tracked files are checked too, but they are not pushed');

    // A planned push is always refused: the variable cannot be used to skip the checks.
    expect(Object.keys(await remoteBranches())).toEqual(['main']);
  }, 60_000);

  it('refuses a ref that is not checked out, since the checks run on the work tree', async () => {
    await commitOnBranch('elsewhere', { 'tools/checks/test/hook-probe.ts': 'export const probe = 4;\n' });
    await git('switch', '-q', 'main');

    const r = await push(['origin', 'elsewhere']);

    expect(r.output).toContain('pre-push: refused: refs/heads/elsewhere is not what is checked out here');
    expect(r.output).not.toContain('running:');
    expect(r.code).not.toBe(0);
    expect(Object.keys(await remoteBranches())).toEqual(['main']);
  }, 60_000);
});

describe('enabling the hook (root package.json)', () => {
  it('`prepare` sets core.hooksPath in a git work tree and does nothing, successfully, outside one', async () => {
    const dir = join(work, 'prepare');
    await mkdir(dir);
    await copyFile(join(root, 'package.json'), join(dir, 'package.json'));

    const outside = await run('npm', ['run', '--silent', 'prepare'], dir);
    expect(outside.output).toBe('');
    expect(outside.code).toBe(0);
    expect(existsSync(join(dir, '.git'))).toBe(false);

    expect((await run('git', ['init', '-q'], dir)).code).toBe(0);
    expect((await run('npm', ['run', '--silent', 'prepare'], dir)).code).toBe(0);
    expect((await run('git', ['config', 'core.hooksPath'], dir)).output.trim()).toBe('.githooks');
  }, 60_000);
});
