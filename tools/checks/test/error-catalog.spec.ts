// docs/errors.md, the catalog of error codes, is generated from the code by
// tools/scripts/error-catalog.mjs (npm run docs:errors). This suite fails when a code the code
// throws is missing from it, when it lists a code nothing throws, or when it is not what the
// generator writes now. The first two are checked against a plain text scan of the sources too,
// so that a blind spot of the generator's parser cannot hide a code.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { repoRoot } from '@cpy/harness';

const run = promisify(execFile);
const ROOT = repoRoot();
const SCRIPT = join(ROOT, 'tools', 'scripts', 'error-catalog.mjs');
const CLOSED_CATALOG = 'libs/core/src/codes.ts';

interface Scan {
  catalog: { code: string; owners: string[]; meaning: string; action: string; sites: string[] }[];
  environment: string[];
}

/** Runs the generator; `code` 0 with its stdout, or its exit code and stderr. */
async function generator(args: string[], root = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [SCRIPT, '--root', root, ...args], { maxBuffer: 64 * 1024 * 1024 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
}

async function scanOf(root = ROOT): Promise<Scan> {
  const r = await generator(['--json'], root);
  if (r.code !== 0) throw new Error(`the generator failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Scan;
}

/** Production sources of the libraries and apps: what the catalog covers. */
async function sources(): Promise<{ path: string; text: string }[]> {
  const out: { path: string; text: string }[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!['node_modules', 'dist', '__tests__', 'test', 'tests'].includes(entry.name)) await walk(full);
      } else if (relative(ROOT, full) === CLOSED_CATALOG) {
        // The catalog itself names every code; it is compared with what the sources report below.
      } else if ((/\.[cm]?ts$/.test(entry.name) && !/\.(spec|test|d)\.[cm]?ts$/.test(entry.name)) || entry.name.endsWith('.sh') || (entry.name.endsWith('.py') && !entry.name.startsWith('test_'))) {
        out.push({ path: relative(ROOT, full), text: await readFile(full, 'utf8') });
      }
    }
  };
  for (const group of ['libs', 'apps']) {
    for (const project of await readdir(join(ROOT, group))) {
      for (const folder of ['src', 'python']) {
        await walk(join(ROOT, group, project, folder)).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
      }
    }
  }
  return out;
}

/**
 * Every CPY_ code the sources use as a value, by plain text: a whole quoted string in TypeScript
 * and Python ('CPY_X', "CPY_X", `CPY_X`), and in shell `fail CPY_X`, `error CPY_X` or
 * `<name>_code=CPY_X`.
 */
function textScan(files: { path: string; text: string }[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const add = (code: string, where: string) => found.set(code, [...(found.get(code) ?? []), where]);
  for (const { path, text } of files) {
    const patterns = path.endsWith('.sh') ? [/(?:^|[\s;&|{(])(?:fail|error)\s+"?(CPY_[A-Z0-9_]+)/gm, /\b[a-z_]+_code=(CPY_[A-Z0-9_]+)/g] : [/(['"`])(CPY_[A-Z0-9_]+)\1/g];
    for (const pattern of patterns) for (const m of text.matchAll(pattern)) add(m[m.length - 1] ?? '', path);
  }
  return found;
}

/** The codes docs/errors.md lists: the first column of its table. */
function documented(markdown: string): string[] {
  return [...markdown.matchAll(/^\| `(CPY_[A-Z0-9_]+)` \|/gm)].map((m) => m[1] ?? '');
}

describe('docs/errors.md, the error catalog', () => {
  let scan: Scan;
  let markdown: string;
  let files: { path: string; text: string }[];
  beforeAll(async () => {
    scan = await scanOf();
    markdown = await readFile(join(ROOT, 'docs', 'errors.md'), 'utf8');
    files = await sources();
  });

  it('is what the generator writes now (run npm run docs:errors after changing an error)', async () => {
    const r = await generator(['--stdout']);
    expect(r.stderr).toBe('');
    expect(markdown === r.stdout ? 'up to date' : 'out of date: run npm run docs:errors').toBe('up to date');
    expect((await generator(['--check'])).code).toBe(0);
  });

  it('lists every code the code throws: none missing', () => {
    const listed = new Set(documented(markdown));
    const environment = new Set(scan.environment);
    const missing = [...textScan(files)].filter(([code]) => !listed.has(code) && !environment.has(code)).map(([code, where]) => `${code} (${[...new Set(where)].join(', ')})`);
    expect(missing).toEqual([]);
    // A code passed straight to a CpyError, `fail`, or a `code:` field is never taken for an environment variable.
    const direct = files.flatMap(({ text }) => [...text.matchAll(/(?:new CpyError\(\s*|code:\s*|(?:^|\s)fail\s+)['"]?(CPY_[A-Z0-9_]+)/gm)].map((m) => m[1] ?? ''));
    expect(direct.filter((code) => environment.has(code) || !listed.has(code))).toEqual([]);
  });

  it('lists no code that nothing throws, each once, in order', () => {
    const listed = documented(markdown);
    expect(listed).toEqual([...new Set(listed)].sort());
    expect(listed).toEqual(scan.catalog.map((e) => e.code));
    const inText = textScan(files);
    expect(listed.filter((code) => !inText.has(code))).toEqual([]);
    // Each has a site the generator can point at, and the source there names the code.
    const lines = new Map(files.map((f) => [f.path, f.text.split('\n')]));
    const unfounded = scan.catalog.filter((e) => !e.sites.some((at) => {
      const [path, line] = [at.slice(0, at.lastIndexOf(':')), Number(at.slice(at.lastIndexOf(':') + 1))];
      return lines.get(path)?.[line - 1]?.includes(e.code);
    }));
    expect(unfounded.map((e) => `${e.code} (${e.sites.join(', ')})`)).toEqual([]);
    expect(listed.length).toBeGreaterThan(100);
  });

  it('is the closed catalog in libs/core/src/codes.ts: the same codes, each under a library or app that reports it', async () => {
    const text = await readFile(join(ROOT, CLOSED_CATALOG), 'utf8');
    const owners = new Map<string, string>();
    let owner = '';
    for (const line of text.slice(text.indexOf('export const ERROR_CODES')).split('\n')) {
      const head = /^ {2}'([^']+)': \[/.exec(line);
      if (head) owner = head[1] ?? '';
      for (const m of line.matchAll(/'(CPY_[A-Z0-9_]+)'/g)) owners.set(m[1] ?? '', owner);
    }
    expect([...owners.keys()].sort()).toEqual(documented(markdown));
    const label = (key: string) => (key.startsWith('@cpy/') ? key : `${key} (`);
    const misplaced = scan.catalog.filter((e) => !e.owners.some((o) => o.startsWith(label(owners.get(e.code) ?? '?'))));
    expect(misplaced.map((e) => `${e.code}: ${owners.get(e.code)} vs ${e.owners.join('; ')}`)).toEqual([]);
  });

  it('says for each code where it comes from, what it means and what to do', () => {
    for (const e of scan.catalog) {
      expect([e.code, e.owners.length > 0, e.meaning.length > 0, e.action.length > 0]).toEqual([e.code, true, true, true]);
    }
    const row = (code: string) => markdown.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
    // A corrupt state.json is CPY_INSTALL_BROKEN from the library and from install.sh alike: both
    // read it with the library's cpy_state.py, which install.sh carries a copy of.
    expect(row('CPY_INSTALL_BROKEN')).toMatch(/^\| `CPY_INSTALL_BROKEN` \| @cpy\/install, @cpy\/install \(cpy_state\.py, which install\.sh carries\) \|/);
    expect(row('CPY_INSTALL_BROKEN')).toMatch(/state\.json/);
    expect(markdown).toMatch(/Not error codes: .*`CPY_HOME`.* are environment variables\./);
  });
});

describe('the generator', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'cpy-error-catalog-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** A tree laid out like the repository: files by path, plus tools/scripts/error-codes.json. */
  async function tree(name: string, filesByPath: Record<string, string>, descriptions: Record<string, { meaning?: string; action?: string }> = {}): Promise<string> {
    const root = join(work, name);
    const all = { ...filesByPath, 'tools/scripts/error-codes.json': JSON.stringify({ codes: descriptions }) };
    for (const [path, text] of Object.entries(all)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    }
    return root;
  }

  const LIB = `import { CpyError } from '@cpy/core';
export const KEYS_ENV = 'CPY_DEMO_KEYS';
const HINT = 'check the path';
export function read(env: Record<string, string | undefined>, missing: boolean, path: string): string {
  if (env['CPY_DEMO_HOME'] && env[KEYS_ENV]) throw new CpyError('CPY_DEMO_DIRECT', \`cannot read \${path}\`, { hint: HINT });
  // A comment naming 'CPY_DEMO_IN_A_COMMENT' is not a code.
  throw new CpyError(missing ? 'CPY_DEMO_MISSING' : 'CPY_DEMO_UNREADABLE', missing ? \`\${path} does not exist\` : \`cannot read \${path}\`, {
    hint: missing ? 'create it' : 'check its permissions',
  });
}
const fail = (code: string, message: string, hint: string): never => {
  throw new CpyError(code, message, { hint });
};
export function check(n: number): void {
  if (n < 0) fail('CPY_DEMO_BY_HELPER', \`\${n} is negative\`, 'give 0 or more');
  if (String(n).length > 3) fail('CPY_DEMO_TWO_SITES', 'too long', 'shorten it');
  if (n === 7) fail('CPY_DEMO_TWO_SITES', 'unlucky', 'pick another');
}
export class DemoApiError extends CpyError {
  constructor(status: number, hint: string) {
    super(status === 401 ? 'CPY_DEMO_UNAUTHORIZED' : 'CPY_DEMO_API', \`the API answered \${status}\`, { hint });
  }
}
export const isMissing = (e: { code: string }) => e.code === 'CPY_DEMO_MISSING';
`;
  const APP = `export function render(word: string) {
  return { code: 'CPY_DEMO_APP_USAGE', message: \`unknown command '\${word}'\`, hint: 'run demo --help' };
}
`;
  const SH = `#!/bin/sh
fail() { printf '%s: %s\\n' "$1" "$2" >&2; exit 1; }
[ -n "\${CPY_DEMO_HOME:-}" ] || fail CPY_DEMO_SHELL "no home in $HOME" 'set it'
# fail CPY_DEMO_SHELL_COMMENT 'not a code'
sig_code=CPY_DEMO_MISSING sig_message="$1 does not exist"
`;
  const PY = `import os
# fail('CPY_DEMO_PY_COMMENT')
if os.environ.get('CPY_DEMO_PY_HOME') == 'CPY_DEMO_MISSING':
    fail('CPY_DEMO_PY', 'from Python')
`;
  const CLOSED = 'libs/core/src/codes.ts';
  const DEMO_X = "import { CpyError } from '@cpy/core';\nexport const a = new CpyError('CPY_DEMO_X', 'what', { hint: 'do' });\n";
  /** A libs/core/src/codes.ts laid out as the real one: ERROR_CODES, codes by owner, as const. */
  const closed = (byOwner: Record<string, string[]>) =>
    `export const ERROR_CODES = {\n${Object.entries(byOwner)
      .map(([owner, codes]) => `  '${owner}': [${codes.map((c) => `'${c}'`).join(', ')}],\n`)
      .join('')}} as const;\n`;
  const TEST = `import { CpyError } from '@cpy/core';
export const fixture = new CpyError('CPY_DEMO_ONLY_IN_A_TEST', 'x', { hint: 'y' });
`;

  it('finds codes however they are built, with their messages and hints, and leaves out environment variables, comments and tests', async () => {
    const root = await tree(
      'ok',
      { 'libs/demo/src/demo.ts': LIB, 'libs/demo/src/__tests__/demo.spec.ts': TEST, 'libs/demo/python/post.py': PY, 'apps/app/src/main.ts': APP, 'apps/app/src/install.sh': SH },
      {
        CPY_DEMO_TWO_SITES: { meaning: 'the number is not one the demo takes', action: 'give another number' },
        CPY_DEMO_UNAUTHORIZED: { action: 'log in' },
        CPY_DEMO_API: { action: 'run again' },
        CPY_DEMO_PY: { meaning: 'the script failed', action: 'read its output' },
      },
    );
    const scan = await scanOf(root);
    const byCode = Object.fromEntries(scan.catalog.map((e) => [e.code, e]));
    expect(Object.keys(byCode)).toEqual([
      'CPY_DEMO_API',
      'CPY_DEMO_APP_USAGE',
      'CPY_DEMO_BY_HELPER',
      'CPY_DEMO_DIRECT',
      'CPY_DEMO_MISSING',
      'CPY_DEMO_PY',
      'CPY_DEMO_SHELL',
      'CPY_DEMO_TWO_SITES',
      'CPY_DEMO_UNAUTHORIZED',
      'CPY_DEMO_UNREADABLE',
    ]);
    expect(scan.environment).toEqual(['CPY_DEMO_HOME', 'CPY_DEMO_KEYS', 'CPY_DEMO_PY_HOME']);
    expect(byCode['CPY_DEMO_DIRECT']).toMatchObject({ owners: ['@cpy/demo'], meaning: 'cannot read {path}', action: 'check the path' });
    expect(byCode['CPY_DEMO_MISSING']).toMatchObject({ owners: ['@cpy/demo', 'app (install.sh)'], meaning: '{path} does not exist', action: 'create it' });
    expect(byCode['CPY_DEMO_UNREADABLE']).toMatchObject({ meaning: 'cannot read {path}', action: 'check its permissions' });
    expect(byCode['CPY_DEMO_BY_HELPER']).toMatchObject({ meaning: '{n} is negative', action: 'give 0 or more' });
    expect(byCode['CPY_DEMO_TWO_SITES']).toMatchObject({ meaning: 'the number is not one the demo takes', action: 'give another number' });
    expect(byCode['CPY_DEMO_UNAUTHORIZED']).toMatchObject({ meaning: 'the API answered {status}', action: 'log in' });
    expect(byCode['CPY_DEMO_APP_USAGE']).toMatchObject({ owners: ['app (app)'], meaning: "unknown command '{word}'", action: 'run demo --help' });
    expect(byCode['CPY_DEMO_SHELL']).toMatchObject({ owners: ['app (install.sh)'], meaning: 'no home in {HOME}', action: 'set it' });
    expect(byCode['CPY_DEMO_PY']).toMatchObject({ owners: ['@cpy/demo (post.py)'], meaning: 'the script failed', action: 'read its output' });
  });

  it.each([
    ['a code built from pieces', { 'libs/demo/src/x.ts': "import { CpyError } from '@cpy/core';\nexport const f = (area: string) => new CpyError(`CPY_${area}_FAILED`, 'x', { hint: 'y' });\n" }, {}, /an error code built from pieces/],
    ['a code only compared against', { 'libs/demo/src/x.ts': "export const f = (e: { code: string }) => e.code === 'CPY_DEMO_NEVER_THROWN';\n" }, {}, /CPY_DEMO_NEVER_THROWN is compared against .* but nothing reports it/],
    [
      'a code only asked about with isCpyError',
      { 'libs/demo/src/x.ts': "import { isCpyError } from '@cpy/core';\nexport const f = (e: unknown) => isCpyError(e, 'CPY_DEMO_NEVER_THROWN');\n" },
      {},
      /CPY_DEMO_NEVER_THROWN is compared against .* but nothing reports it/,
    ],
    ['a description of a code nothing throws', { 'libs/demo/src/x.ts': "export const x = 1;\n" }, { CPY_DEMO_GONE: { meaning: 'm', action: 'a' } }, /describes CPY_DEMO_GONE, which nothing reports/],
    [
      'a reported code missing from the closed catalog',
      { 'libs/demo/src/x.ts': DEMO_X, [CLOSED]: closed({ '@cpy/demo': [] }) },
      {},
      /CPY_DEMO_X is reported \(libs\/demo\/src\/x\.ts:2\) but is not in the closed catalog: add it to @cpy\/demo's codes in libs\/core\/src\/codes\.ts/,
    ],
    ['a catalogued code nothing reports', { 'libs/demo/src/x.ts': DEMO_X, [CLOSED]: closed({ '@cpy/demo': ['CPY_DEMO_X', 'CPY_DEMO_GONE'] }) }, {}, /libs\/core\/src\/codes\.ts lists CPY_DEMO_GONE, which nothing reports: remove it/],
    ['a code catalogued under a library that does not report it', { 'libs/demo/src/x.ts': DEMO_X, [CLOSED]: closed({ '@cpy/other': ['CPY_DEMO_X'] }) }, {}, /gives CPY_DEMO_X to @cpy\/other, which does not report it \(@cpy\/demo do\): move it/],
    ['a code catalogued twice', { 'libs/demo/src/x.ts': DEMO_X, [CLOSED]: closed({ '@cpy/demo': ['CPY_DEMO_X'], demo: ['CPY_DEMO_X'] }) }, {}, /lists CPY_DEMO_X twice/],
    [
      'two sites that say different things, and no common meaning written',
      { 'libs/demo/src/x.ts': "import { CpyError } from '@cpy/core';\nexport const a = new CpyError('CPY_DEMO_X', 'one thing', { hint: 'h' });\nexport const b = new CpyError('CPY_DEMO_X', 'another', { hint: 'h' });\n" },
      {},
      /CPY_DEMO_X: its sites do not give one message; write "meaning" for it in tools\/scripts\/error-codes\.json/,
    ],
  ])('stops on %s', async (name, filesByPath, descriptions, message) => {
    const root = await tree(name.replace(/\W+/g, '-'), filesByPath as Record<string, string>, descriptions);
    const r = await generator(['--stdout'], root);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
  });

  it('does not count a library that only asks isCpyError(e, code) among those that report the code', async () => {
    const asker = "import { CpyError, isCpyError } from '@cpy/core';\nexport const g = (e: unknown) => {\n  if (isCpyError(e, 'CPY_DEMO_X')) throw new CpyError('CPY_OTHER_WRAPPED', 'wrapped', { hint: 'h' });\n};\n";
    const root = await tree('asker', { 'libs/demo/src/x.ts': DEMO_X, 'libs/other/src/y.ts': asker, [CLOSED]: closed({ '@cpy/demo': ['CPY_DEMO_X'], '@cpy/other': ['CPY_OTHER_WRAPPED'] }) });
    const byCode = Object.fromEntries((await scanOf(root)).catalog.map((e) => [e.code, e]));
    expect(byCode['CPY_DEMO_X']).toMatchObject({ owners: ['@cpy/demo'] });
  });

  it('accepts a closed catalog that lists exactly the reported codes, each under a library or app that reports it', async () => {
    const shell = `#!/bin/sh\nfail CPY_DEMO_X 'what' 'do'\nfail CPY_DEMO_SH_ONLY 'only here' 'do'\n`;
    const root = await tree('closed', { 'libs/demo/src/x.ts': DEMO_X, 'apps/feat/src/install.sh': shell, [CLOSED]: closed({ '@cpy/demo': ['CPY_DEMO_X'], feat: ['CPY_DEMO_SH_ONLY'] }) });
    const scan = await scanOf(root);
    expect(scan.catalog.map((e) => e.code)).toEqual(['CPY_DEMO_SH_ONLY', 'CPY_DEMO_X']);
  });

  it('--check fails when docs/errors.md is not what it writes', async () => {
    const root = await tree('check', { 'libs/demo/src/x.ts': "import { CpyError } from '@cpy/core';\nexport const a = new CpyError('CPY_DEMO_X', 'what', { hint: 'do' });\n" });
    await mkdir(join(root, 'docs'), { recursive: true });
    expect((await generator(['--check'], root)).code).toBe(1);
    expect((await generator([], root)).code).toBe(0);
    expect((await generator(['--check'], root)).code).toBe(0);
    const text = await readFile(join(root, 'docs', 'errors.md'), 'utf8');
    expect(text).toContain('| `CPY_DEMO_X` | @cpy/demo | what | do |');
    await writeFile(join(root, 'docs', 'errors.md'), text.replace('| what |', '| edited by hand |'));
    expect((await generator(['--check'], root)).code).toBe(1);
  });
});
