import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildSync } from 'esbuild';

// Real files, compiled by V8 in a new process each time, as at each start of `cpy install` (whose
// chunks scripts/bundle.mjs builds for this): within one process V8 keeps what it compiled, and
// would take any cache (a damaged one too) without reading it.
let dir: string;
let runner: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cpy-code-cache-'));
  const loader = join(dir, 'loader', 'code-cache.cjs');
  buildSync({ entryPoints: [fileURLToPath(new URL('../code-cache.ts', import.meta.url))], outfile: loader, bundle: true, platform: 'node', format: 'cjs', logLevel: 'warning' });
  runner = join(dir, 'loader', 'run.cjs');
  await writeFile(
    runner,
    `const { basename } = require('node:path');
const { loadWithCodeCache } = require(${JSON.stringify(loader)});
const { exports: loaded, caches } = loadWithCodeCache(process.argv[2], { require });
const value = typeof loaded === 'function' ? loaded() : loaded;
const later = typeof loaded.later === 'function' ? loaded.later() : undefined;
console.log(JSON.stringify({ value, later, caches: Object.fromEntries([...caches].map(([f, use]) => [basename(f), use])) }));
`,
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
/** A folder for one test's files. */
async function folder(): Promise<string> {
  const d = join(dir, `t${++n}`);
  await mkdir(d);
  return d;
}

/** Loads `file` in a new node process (which writes the caches at its exit): what it returned, and each file's cache. */
function load(file: string, node = process.execPath): { value: unknown; later?: unknown; caches: Record<string, string> } {
  const r = spawnSync(node, [runner, file], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  if (r.status !== 0) throw new Error(`the load failed (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { value: unknown; caches: Record<string, string> };
}

const caches = async (d: string) => (await readdir(d)).filter((f) => f.endsWith('.v8cache')).sort();

describe('loading CommonJS with a V8 code cache beside it', () => {
  it('loads a file and the siblings it requires (each once), and uses at the next start the cache written at exit', async () => {
    const d = await folder();
    await writeFile(join(d, 'shared.cjs'), 'exports.base = 40;\n');
    await writeFile(join(d, 'two.cjs'), "const shared = require('./shared.cjs');\nexports.shared = shared;\nexports.two = shared.base / 20;\n");
    await writeFile(
      join(d, 'main.cjs'),
      "const { join } = require('node:path');\nconst shared = require('./shared.cjs');\nconst two = require('./two.cjs');\nmodule.exports = { answer: shared.base + two.two, once: shared === two.shared, where: join(__dirname, 'x'), file: __filename };\n",
    );

    const first = load(join(d, 'main.cjs'));
    expect(first.value).toEqual({ answer: 42, once: true, where: join(d, 'x'), file: join(d, 'main.cjs') });
    expect(first.caches).toEqual({ 'main.cjs': 'written', 'shared.cjs': 'written', 'two.cjs': 'written' });
    expect(await caches(d)).toEqual(['main.cjs.v8cache', 'shared.cjs.v8cache', 'two.cjs.v8cache']);
    expect((await readFile(join(d, 'main.cjs.v8cache'))).subarray(0, 15).toString()).toBe('cpy-v8-cache 1 ');

    const second = load(join(d, 'main.cjs'));
    expect(second.value).toEqual(first.value);
    expect(second.caches).toEqual({ 'main.cjs': 'used', 'shared.cjs': 'used', 'two.cjs': 'used' });
  });

  it('runs a file changed in place to the same length, not the code its old cache holds', async () => {
    const d = await folder();
    const file = join(d, 'main.cjs');
    await writeFile(file, 'module.exports = () => "old";\n');
    load(file);
    expect(load(file)).toEqual({ value: 'old', caches: { 'main.cjs': 'used' } });

    // V8 checks the source's length only: the cache's own first line tells the two files apart.
    await writeFile(file, 'module.exports = () => "new";\n');
    expect(load(file)).toEqual({ value: 'new', caches: { 'main.cjs': 'written' } });
    expect(load(file)).toEqual({ value: 'new', caches: { 'main.cjs': 'used' } });
  });

  it('does not offer a cache another node binary wrote (V8 checks its version, not the build)', async () => {
    const d = await folder();
    const file = join(d, 'main.cjs');
    await writeFile(file, 'module.exports = 5;\n');
    load(file);
    expect(load(file).caches).toEqual({ 'main.cjs': 'used' });
    // The same node, as another file: to V8 the same version, to the cache's first line another binary.
    const other = join(d, 'node');
    await copyFile(process.execPath, other);
    await chmod(other, 0o755);
    expect(load(file, other)).toEqual({ value: 5, caches: { 'main.cjs': 'written' } });
    expect(load(file, other).caches).toEqual({ 'main.cjs': 'used' });
    expect(load(file).caches).toEqual({ 'main.cjs': 'written' });
    await rm(other);
  });

  it('compiles anew when V8 refuses the cache (another V8, a damaged header), and replaces it', async () => {
    const d = await folder();
    const file = join(d, 'main.cjs');
    await writeFile(file, 'module.exports = 7;\n');
    load(file);
    const good = await readFile(`${file}.v8cache`);
    const head = good.subarray(0, good.indexOf(10) + 1);
    await writeFile(`${file}.v8cache`, Buffer.concat([head, Buffer.alloc(good.length - head.length, 0x5a)]));

    expect(load(file)).toEqual({ value: 7, caches: { 'main.cjs': 'written' } });
    const rewritten = await readFile(`${file}.v8cache`);
    expect(rewritten.subarray(0, head.length)).toEqual(head);
    expect(rewritten.includes(Buffer.alloc(64, 0x5a))).toBe(false);
    expect(load(file)).toEqual({ value: 7, caches: { 'main.cjs': 'used' } });
  });

  it('saves the caches of siblings a command loads later, after the first file returned', async () => {
    const d = await folder();
    await writeFile(join(d, 'later.cjs'), 'exports.value = "loaded when asked";\n');
    await writeFile(join(d, 'main.cjs'), "exports.later = () => require('./later.cjs').value;\n");
    const first = load(join(d, 'main.cjs'));
    expect(first).toMatchObject({ later: 'loaded when asked', caches: { 'main.cjs': 'written' } });
    expect(await caches(d)).toEqual(['later.cjs.v8cache', 'main.cjs.v8cache']);
    expect(load(join(d, 'main.cjs')).caches).toEqual({ 'main.cjs': 'used' });
  });

  it('runs a sibling whose code threw again at the next require, as require does', async () => {
    const d = await folder();
    await writeFile(join(d, 'bad.cjs'), "globalThis.runs = (globalThis.runs ?? 0) + 1;\nthrow new Error('boom ' + globalThis.runs);\n");
    await writeFile(join(d, 'main.cjs'), "const seen = [];\nfor (let i = 0; i < 2; i++) try { require('./bad.cjs'); } catch (e) { seen.push(e.message); }\nmodule.exports = seen;\n");
    expect(load(join(d, 'main.cjs')).value).toEqual(['boom 1', 'boom 2']);
  });

  it('where the cache cannot be written, loads all the same and leaves no temporary file', async () => {
    const d = await folder();
    const file = join(d, 'main.cjs');
    await writeFile(file, 'module.exports = "still runs";\n');
    // A directory where the cache would go: the rename onto it fails, as in a folder the user cannot write.
    await mkdir(`${file}.v8cache`);
    expect(load(file)).toEqual({ value: 'still runs', caches: { 'main.cjs': 'written' } });
    expect((await readdir(d)).sort()).toEqual(['main.cjs', 'main.cjs.v8cache']);
    expect(load(file).caches).toEqual({ 'main.cjs': 'written' });
  });
});
