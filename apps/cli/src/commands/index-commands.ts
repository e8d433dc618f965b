import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CpyError } from '@cpy/core';
import { addEntry, indexEntryForFile, misnamedEntries, planRetention, refuseReplacedBytes, updateIndexFile, type ArtifactIndex } from '@cpy/artifact';
import { loadIndex } from '@cpy/install';
import * as z from 'zod';
import { stopOnSignals } from '../signals.js';
import { EXIT, defineCommand } from '../command.js';
import { locate } from '../location.js';
import { summaryOf } from './table.js';

/** The index as a table: one line per build. */
function renderIndex(index: ArtifactIndex): string {
  if (index.artifacts.length === 0) return 'the index lists no builds\n';
  return (
    index.artifacts
      .map((e) => `${e.version.padEnd(10)} build ${String(e.build).padEnd(3)} ${`${e.os}${e.osVersion}`.padEnd(10)} ${e.arch.padEnd(8)} glibc ${(e.glibcFloor ?? '-').padEnd(5)} ${e.state.padEnd(10)} ${e.url}`)
      .join('\n') + '\n'
  );
}

/**
 * The index is made where it is asked for, never its directory: a typing mistake in --index would
 * otherwise leave an index in a new directory no one serves.
 */
async function refuseMissingDirectory(path: string): Promise<void> {
  const dir = dirname(path);
  // (Another failure, EACCES, is said by the read or the write that meets it.)
  const st = await stat(dir).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' || error.code === 'ENOTDIR' ? null : undefined));
  if (st === null) {
    throw new CpyError('CPY_CLI_CANNOT_WRITE', `cannot write the index ${path}: its directory ${dir} does not exist`, {
      hint: `make it first (mkdir -p ${dir}), or give --index a file in a directory that exists`,
    });
  }
  if (st && !st.isDirectory()) {
    throw new CpyError('CPY_CLI_CANNOT_WRITE', `cannot write the index ${path}: ${dir} is not a directory`, { hint: 'give --index a file in a directory that exists' });
  }
}

export const indexAdd = defineCommand({
  name: 'index add',
  summary: summaryOf('index add'),
  description:
    'Adds the artifact to the index file (created when missing, in a directory that exists), or replaces its entry: version, build, platform, glibc floor, ' +
    'the runtime packages it needs, its sha256 and size, and the URL it will be downloaded from. They are read from the artifact itself ' +
    '(its metadata entry); its file name must say the same, and its compression (CPY_ARTIFACT_MISNAMED otherwise), and the .json beside it, when there is one, must be a copy of it, the .sha256 its checksum (CPY_INDEX_BAD_ENTRY). ' +
    'The same bytes added again (at a new URL) keep the date they were first published, by which cpy outdated ages builds; other bytes under a file it lists are refused without --replace (CPY_INDEX_REPLACES_BYTES). ' +
    'The URL must end in the artifact\'s file name, which installers name the download by (CPY_INDEX_BAD_ENTRY). ' +
    'The last 3 builds of each release line per distribution release and architecture (debian12 x86_64) stay active; older ones become deprecated. The file and its table beside it ' +
    '(ARTIFACTS.md for index.json, <name>.md for another <name>.json) are written atomically. A signature beside the index (index.json.asc) no longer signs it once changed: it is removed, with a warning; ' +
    'sign the index again with cpy artifact sign. Ctrl-C stops a wait for another update of the index (nothing changed); once writing, it finishes first. ' +
    'For mirrors, air-gapped sites and tests: cpy publish keeps the index of a GitHub repository by itself.',
  options: {
    url: { type: 'string', valueName: '<url>', description: 'where installers will download the artifact (its .sha256 and .json beside it)' },
    index: { type: 'string', valueName: '<file>', description: 'the index file to update (index.json)' },
    keep: { type: 'string', valueName: '<N>', description: 'active builds to keep per release line, distribution release and architecture (default 3)' },
    replace: { type: 'boolean', description: 'list these bytes in place of other bytes listed under the same file name (refused otherwise: CPY_INDEX_REPLACES_BYTES)' },
  },
  positionals: [{ name: 'artifact', required: true, description: 'the .tgz made by cpy build' }],
  schema: z
    .object({
      values: z.object({
        url: z.string().regex(/^(https?|file):\/\/\S+$/, 'must be an http(s) or file URL'),
        index: z
          .string()
          .min(1, 'give the index file: --index index.json')
          .refine((v) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(v), 'is a URL: index add edits a local index file (download it first; cpy publish keeps the index of a GitHub repository itself)'),
        keep: z.string().regex(/^[1-9]\d*$/, 'must be a number of builds, 1 or more').transform(Number).optional(),
        replace: z.boolean().optional(),
      }),
      positionals: z.tuple([z.string().min(1)], { message: 'give the artifact: cpy index add dist/artifacts/cpython-3.13.5-debian12-build1.tgz --url ... --index index.json' }),
    })
    .transform(({ values, positionals }) => ({ ...values, artifact: positionals[0] })),
  examples: ['cpy index add dist/artifacts/cpython-3.13.5-debian12-build1.tgz --url https://mirror.example/python/cpython-3.13.5-debian12-build1.tgz --index site/index.json'],
  async run({ input, io, json, log }) {
    const path = resolve(io.cwd, input.index);
    await refuseMissingDirectory(path);
    const entry = await indexEntryForFile(resolve(io.cwd, input.artifact), input.url);
    // Read, changed and written under the index's lock (two at once lost one's entries). A
    // signature beside it signs its old bytes: removed (put back if the write fails), said. A first
    // Ctrl-C stops a wait for another update's lock (nothing changed), or lets the write finish
    // (under a second of moves: one killed between them left the index unsigned, its signature
    // aside); a second stops at once.
    const stop = stopOnSignals({ log, stopping: `stopping: a wait for another update of ${path} ends now; a write of it under way finishes first, whole (Ctrl-C again to stop at once)...`, force: () => process.exit(130) });
    let updated: { plan: ReturnType<typeof planRetention>; signatureRemoved: string | null };
    try {
      updated = await updateIndexFile(
        path,
        (index) => {
          if (!input.replace) refuseReplacedBytes(index, entry);
          const plan = planRetention(addEntry(index, entry), input.keep);
          return { index: plan.index, result: { plan } };
        },
        { onWait: (holder) => log(`waiting for another update of ${path} (${holder})`), signal: stop.signal },
      );
    } finally {
      stop.release();
    }
    const { plan, signatureRemoved } = updated;
    for (const d of plan.deprecate) log(`deprecated: ${d.file} (${d.arch})`);
    if (signatureRemoved) log(`warning: removed ${signatureRemoved}: it signed the index as it was, not as it is now; sign it again: cpy artifact sign ${path}`);
    if (!json) io.stdout.write(`added ${entry.file} (${entry.os}${entry.osVersion}, ${entry.arch}) to ${path}; it lists ${plan.index.artifacts.length} build${plan.index.artifacts.length === 1 ? '' : 's'}\n`);
    // The entry as the index holds it now: the same bytes added again keep their first date, and retention may have deprecated it.
    const listed = plan.index.artifacts.find((e) => e.file === entry.file && e.arch === entry.arch) ?? entry;
    return { exitCode: EXIT.ok, outcome: 'success', data: { index: path, entry: listed, deprecated: plan.deprecate.map((d) => d.file), removedSignature: signatureRemoved } };
  },
});

export const indexShow = defineCommand({
  name: 'index show',
  summary: summaryOf('index show'),
  description:
    'Reads and checks an index (a URL or a file; default CPY_INDEX_URL) and lists its builds, newest first, with the sha256 of the bytes read ' +
    '(what cpy publish --adopt-index takes once they are checked). --json gives {source, sha256, index}.',
  options: {
    index: { type: 'string', valueName: '<url|file>', description: 'the index (default CPY_INDEX_URL)' },
    'ca-file': { type: 'string', valueName: '<pem>', description: 'extra CA certificates for https' },
  },
  positionals: [],
  schema: z
    .object({ values: z.object({ index: z.string().min(1).optional(), 'ca-file': z.string().min(1).optional() }), positionals: z.tuple([]) })
    .transform(({ values }) => values),
  examples: ['cpy index show --index https://github.com/acme/python-builds/releases/download/cpy-index/index.json'],
  async run({ input, io, json, log }) {
    const location = input.index ?? io.env['CPY_INDEX_URL'];
    if (!location) {
      throw new CpyError('CPY_CLI_USAGE', 'which index? Pass --index <url|file>, or set CPY_INDEX_URL', { hint: 'e.g. --index https://github.com/<owner>/<repo>/releases/download/cpy-index/index.json' });
    }
    const { index, source, sha256 } = await loadIndex(locate(io.cwd, location), { env: io.env, ...(input['ca-file'] ? { caFile: resolve(io.cwd, input['ca-file']) } : {}) });
    if (!json) io.stdout.write(`${source} (schema ${index.schemaVersion}, updated ${index.updatedAt}, sha256 ${sha256})\n${renderIndex(index)}`);
    // An entry a cpy before 2026-12-05 wrote from a renamed copy or a stale .json: installers go by
    // its fields; said here, for its publisher to add the artifact again.
    const misnamed = misnamedEntries(index);
    for (const m of misnamed) log(`warning: ${m.said}; add the artifact again (cpy index add, cpy publish), which names it from its own metadata`);
    return { exitCode: EXIT.ok, outcome: 'success', data: { source, sha256, index, misnamed } };
  },
});
