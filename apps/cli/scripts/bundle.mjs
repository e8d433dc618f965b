// Bundles the built CLI (dist/main.js and what it imports: the cpy libraries and their npm
// dependencies) into dist/cpy/, so that `cpy` starts by reading a few files rather than resolving
// and compiling some 150 modules: that was most of an already-installed `cpy install` (issue 20).
//
//   node scripts/bundle.mjs        (run by `nx run cli:build`, after tsc)
//
// - The ES module build (main.js, each command's chunk, the shared chunks) holds the commands.
//   main.cjs, what bin/cpy.cjs runs, is the dispatch alone (main, help, the command table) as
//   CommonJS: `cpy --version` and `--help` start without Node's ES module loader (about 10 ms of a
//   70 ms start), and a command's import() loads its chunk of the first build.
// - The install-path commands are a build of their own, made CommonJS file by file and loaded
//   with V8's code cache (below).
// - Code splitting keeps each command, and the heavy dependencies only some commands need
//   (openpgp, sigstore, undici, execa), in chunks loaded by the command's own import().
// - `import.meta.url` in a bundled module is the chunk's URL, not the module's own. Modules use
//   it to find files beside them (postinstall.py, provision-builder.sh, keys/, vagrant/), so each
//   occurrence is rewritten to the module's original place, relative to dist/cpy/: the bundle
//   runs from this checkout (apps/cli is private; @cpy/install is what npm consumers use).
// - Minified: start-up parses less. Source maps are written beside the chunks; a stack trace
//   names the TypeScript source with NODE_OPTIONS=--enable-source-maps.
// - Written beside dist/cpy/ and swapped in by two renames: a `cpy` started during a rebuild runs
//   the old bundle or the new one, not a half-written one (only in the instant between the two
//   renames is there none). A `cpy` already running that loads a command's chunk after the swap
//   loads it from the new bundle: the same file when the code did not change.
import { build } from 'esbuild';
import { copyFile, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const entry = join(dist, 'main.js');
const outdir = join(dist, 'cpy');
/** Where the new bundle is written: a sibling of outdir, so paths relative to it are the same. */
const staging = join(dist, `.cpy-new-${process.pid}`);
const aside = join(dist, `.cpy-old-${process.pid}`);

/** The rewrite, for chunks written to `dir` (a folder of outdir). */
const importMetaUrlIn = (dir) => ({
  name: 'original-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const here = relative(dir, args.path).split('\\').join('/');
      return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(here)}, import.meta.url).href`), loader: 'js' };
    });
  },
});
const originalImportMetaUrl = importMetaUrlIn(outdir);

// What an interrupted bundling left (its process is gone).
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
};
for (const name of await readdir(dist).catch(() => [])) {
  const left = /^\.cpy-(?:new|old)-(\d+)$/.exec(name);
  if (left && (Number(left[1]) === process.pid || !alive(Number(left[1])))) await rm(join(dist, name), { recursive: true, force: true });
}
/** esbuild's build; a failed one leaves no half-written bundle behind. */
const bundle = (options) =>
  build(options).catch(async (error) => {
    await rm(staging, { recursive: true, force: true });
    throw error;
  });
// The install-path commands (install, list, use, rollback, uninstall: commands/install.js) are
// built apart, with no other command beside them. In one build, a module two commands share
// is one chunk holding what any of them uses: the zod API the other commands use makes zod's
// JSON Schema code live in the zod chunk an already-installed `cpy install` loads (99 kB,
// against 47 kB for what zod/mini needs). The cost: the code the two builds share is on disk
// twice; nothing is shared at run time (main.cjs tells cpy's errors by name, not by class).
const APART = join(dist, 'commands', 'install.js');
const apartDir = 'install-command';
/** In the main build, the command built apart is left out (main.cjs loads it from its own build). */
const leaveApart = {
  name: 'leave-apart',
  setup(b) {
    b.onResolve({ filter: /^\.\/install\.js$/ }, (args) => (resolve(args.resolveDir, args.path) === APART ? { path: args.path, external: true } : undefined));
  },
};
/**
 * In the build apart, the command table's other commands are left out: the command uses the
 * table only for its summaries (summaryOf), and never loads another command through it.
 */
const tableAlone = {
  name: 'table-alone',
  setup(b) {
    b.onResolve({ filter: /^\.\/[\w-]+\.js$/ }, (args) => (args.importer.endsWith(join('commands', 'table.js')) ? { path: `./no-such-command-here/${args.path}`, external: true } : undefined));
  },
};
const esm = {
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
  // CommonJS dependencies (tar-stream, sigstore...) call require() for Node's own modules.
  banner: { js: "import { createRequire as __cpyRequire } from 'node:module'; const require = __cpyRequire(import.meta.url);" },
};
// What lets a CommonJS bundle use import.meta.url (after the rewrite above): its own file's URL.
// The directive first: esbuild's own "use strict" comes after the banner, where it is no directive,
// and the code, strict as ES modules are, would run sloppy.
const cjsImportMetaUrl = {
  define: { 'import.meta.url': '__cpyUrl' },
  banner: { js: `"use strict";var __cpyUrl = require('node:url').pathToFileURL(__filename).href;` },
};
// The command built apart is loaded with V8's code cache (src/code-cache.ts), which Node 20 offers
// only for CommonJS, and only for code that does not call import() (the cache does not keep what
// resolves it). So it is built twice:
// - as ES modules with code splitting, as the other commands are, the files named .cjs: a first
//   install's libraries (tar-stream, undici...) stay in chunks of their own, loaded when it runs;
// - then each of those files alone as CommonJS (the others external): import becomes require()
//   of the same files, and each import() a require() run when it was an import() (esbuild's
//   `dynamic-import: false`). The source maps of the first build carry through the second.
const apartEsm = join(staging, `.${apartDir}-esm`);
const apart = await bundle({
  ...esm,
  banner: {},
  outExtension: { '.js': '.cjs' },
  entryPoints: [APART],
  outdir: apartEsm,
  plugins: [importMetaUrlIn(join(outdir, apartDir)), tableAlone],
});
const apartFiles = await readdir(apartEsm);
const siblings = {
  name: 'siblings',
  setup(b) {
    b.onResolve({ filter: /^\.\// }, (args) => (args.kind === 'entry-point' ? undefined : { path: args.path, external: true }));
  },
};
const apartCjs = await bundle({
  entryPoints: apartFiles.filter((f) => f.endsWith('.cjs')).map((f) => join(apartEsm, f)),
  outdir: join(staging, apartDir),
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  supported: { 'dynamic-import': false },
  minify: true,
  sourcemap: 'linked',
  // The first build's pointers to its .LEGAL.txt files (copied beside them below), kept.
  legalComments: 'inline',
  metafile: true,
  logLevel: 'warning',
  plugins: [siblings],
  ...cjsImportMetaUrl,
});
for (const legal of apartFiles.filter((f) => f.endsWith('.LEGAL.txt'))) await copyFile(join(apartEsm, legal), join(staging, apartDir, legal));
await rm(apartEsm, { recursive: true, force: true });
// A guard: an import() left in these files would fail at run time once its function came from a cache.
for (const file of Object.keys(apartCjs.metafile.outputs).filter((f) => f.endsWith('.cjs'))) {
  if (/\bimport\(/.test(await readFile(file, 'utf8'))) {
    await rm(staging, { recursive: true, force: true });
    throw new Error(`${file} calls import(), which code loaded with V8's code cache cannot (see src/code-cache.ts)`);
  }
}
const result = await bundle({
  ...esm,
  entryPoints: [entry],
  outdir: staging,
  plugins: [originalImportMetaUrl, leaveApart],
});
// The dispatch as CommonJS: the same main.js, each command's import() pointing at its chunk above,
// the command built apart loaded through src/code-cache.ts (bundled into main.cjs).
/** Each entry point's output, relative to outdir; the build apart's is its CommonJS twin. */
const entryOutputs = (metafile, place) =>
  Object.entries(metafile.outputs)
    .filter(([, o]) => o.entryPoint)
    .map(([file, o]) => [resolve(o.entryPoint), `./${place(resolve(file)).split('\\').join('/')}`]);
const chunkOf = new Map([
  ...entryOutputs(result.metafile, (file) => relative(staging, file)),
  ...entryOutputs(apart.metafile, (file) => join(apartDir, basename(file))),
]);
const codeCache = join(dist, 'code-cache.js');
const commandChunks = {
  name: 'command-chunks',
  setup(b) {
    b.onResolve({ filter: /^\.\/[\w-]+\.js$/ }, (args) => {
      if (!args.importer.endsWith(join('commands', 'table.js'))) return undefined;
      const chunk = chunkOf.get(resolve(args.resolveDir, args.path));
      if (!chunk) return { errors: [{ text: `${args.path}: no chunk of the ES module build holds it` }] };
      return chunk.endsWith('.cjs') ? { path: chunk, namespace: 'code-cached' } : { path: chunk, external: true };
    });
    b.onLoad({ filter: /.*/, namespace: 'code-cached' }, (args) => ({
      contents: `const { requireWithCodeCache } = require(${JSON.stringify(codeCache)});\nmodule.exports = requireWithCodeCache(require('node:path').join(__dirname, ${JSON.stringify(args.path)}), { require });\n`,
      resolveDir: dist,
      loader: 'js',
    }));
  },
};
await bundle({
  entryPoints: [entry],
  outfile: join(staging, 'main.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: true,
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [originalImportMetaUrl, commandChunks],
  // import.meta.url (after the rewrite above, a file's original place) from this file's own URL.
  ...cjsImportMetaUrl,
});
await writeFile(join(staging, 'package.json'), '{ "type": "module" }\n');
await rename(outdir, aside).catch((error) => {
  if (error.code !== 'ENOENT') throw error;
});
await rename(staging, outdir);
await rm(aside, { recursive: true, force: true });
const outputs = { ...result.metafile.outputs, ...apartCjs.metafile.outputs };
const bytes = Object.values(outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`bundled dist/main.js into ${relative(process.cwd(), outdir)} (${Object.keys(outputs).filter((f) => /\.c?js$/.test(f)).length} chunks, ${(bytes / 2 ** 20).toFixed(1)} MiB)`);
