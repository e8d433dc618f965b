import { join, resolve } from 'node:path';
import { CpyError, packArtifact, validateArtifact, type PackedArtifact, type ValidationReport } from '@cpy/artifact';
import { artifactMetadataFor, readBuildResult, type BuildResult, type SourceVerification } from '@cpy/build';
import { z } from 'zod';
import { EXIT, defineCommand, type CommandContext } from '../command.js';
import { FETCH_OPTIONS, fetchForCommand, fetchValues } from './source.js';
import type { Style } from '../io.js';

/** The packing options `cpy build` and `cpy artifact pack` share. */
export const PACK_OPTIONS = {
  out: { type: 'string', short: 'o', valueName: '<dir>', description: 'where the artifact goes (default ./dist/artifacts)' },
  'keep-tests': { type: 'boolean', description: "keep CPython's test suite in the artifact (140 MB more)" },
  'no-strip': { type: 'boolean', description: 'do not strip the binaries' },
  compression: { type: 'string', valueName: '<gzip|zstd>', description: 'gzip (.tgz, the default) or zstd (.tar.zst: smaller; installing needs zstd)' },
  'debug-symbols': { type: 'boolean', description: 'keep the debug symbols as a separate asset, <name>.debug.tgz' },
  'no-validate': { type: 'boolean', description: 'skip validating the artifact after packing' },
} as const;

export const packValues = {
  out: z.string().min(1).optional(),
  'keep-tests': z.boolean().optional(),
  'no-strip': z.boolean().optional(),
  compression: z.enum(['gzip', 'zstd']).optional(),
  'debug-symbols': z.boolean().optional(),
  'no-validate': z.boolean().optional(),
};

type PackValues = { [K in keyof typeof packValues]?: z.output<(typeof packValues)[K]> };

export interface PackedAndValidated {
  readonly packed: PackedArtifact;
  readonly validation: ValidationReport | null;
}

/** Packs a finished build (and validates the artifact unless --no-validate). */
export async function packBuild(ctx: CommandContext<unknown>, result: BuildResult, verification: SourceVerification, input: PackValues): Promise<PackedAndValidated> {
  if (!result.os.versionId) {
    throw new CpyError('CPY_ARTIFACT_UNKNOWN_OS', `the builder (${result.os.prettyName}) has no VERSION_ID in /etc/os-release`, {
      hint: 'build on (or in a container of) a released distribution',
    });
  }
  ctx.log(`packing ${result.installDir}`);
  const packed = await packArtifact({
    installDir: result.installDir,
    metadata: artifactMetadataFor(result, verification),
    outDir: resolve(ctx.io.cwd, input.out ?? join('dist', 'artifacts')),
    keepTests: Boolean(input['keep-tests']),
    strip: !input['no-strip'],
    compression: input.compression ?? 'gzip',
    debugSymbols: Boolean(input['debug-symbols']),
    packagesFor: async () => result.runtimePackages,
  });
  if (input['no-validate']) return { packed, validation: null };
  ctx.log(`validating ${packed.fileName}`);
  return { packed, validation: await validateArtifact(packed.path) };
}

/** The lines that describe a packed artifact (and its validation failures). */
export function artifactLines({ packed, validation }: PackedAndValidated, style: Style): string[] {
  return [
    `  artifact  ${packed.path} (${(packed.bytes / 1024 ** 2).toFixed(1)} MiB, glibc >= ${packed.metadata.platform.glibcFloor})`,
    `  sha256    ${packed.sha256}`,
    ...(packed.debugSymbols ? [`  debug     ${packed.debugSymbols.path} (${(packed.debugSymbols.bytes / 1024 ** 2).toFixed(1)} MiB)`] : []),
    ...(validation ? reportLines(validation.summary, validation.checks.filter((c) => !c.ok), style) : []),
  ];
}

/** The JSON fields and exit code for a packed (and maybe validated) artifact. */
export function artifactOutcome({ packed, validation }: PackedAndValidated, failureHint: string) {
  const ok = validation?.ok ?? true;
  return {
    ok,
    data: {
      artifact: { path: packed.path, fileName: packed.fileName, sha256: packed.sha256, bytes: packed.bytes, checksumPath: packed.checksumPath, metadataPath: packed.metadataPath, debugSymbols: packed.debugSymbols },
      validation: validation ? { ok: validation.ok, summary: validation.summary, checks: validation.checks } : null,
      ...(validation && !validation.ok ? { error: { code: 'CPY_ARTIFACT_INVALID', message: validation.summary.split('\n').slice(1).join('; '), hint: failureHint } } : {}),
    },
  };
}

export const artifactPack = defineCommand({
  name: 'artifact pack',
  summary: 'Pack a finished build directory into a cpy artifact',
  description:
    'Packs what `cpy build` left in <build-dir> (<work-dir>/cpython-<version>-build<N>, with build-result.json) ' +
    'as `cpy build` does: with other options (zstd, debug symbols, the test suite) or again after a change, ' +
    'without building. The source tarball named in build-result.json is verified again (from the cache, or fetched) ' +
    'and must be the one that was built. Exit 0 when packed and valid, 1 otherwise.',
  options: { ...PACK_OPTIONS, ...FETCH_OPTIONS },
  positionals: [{ name: 'build-dir', required: true, description: 'a finished build: <work-dir>/cpython-<version>-build<N>' }],
  schema: z
    .object({ values: z.object({ ...packValues, ...fetchValues }), positionals: z.tuple([z.string().min(1)], { message: 'give one build directory' }) })
    .transform(({ values, positionals }) => ({ buildDir: positionals[0], ...values })),
  examples: ['cpy artifact pack ~/.cache/cpy/builds/cpython-3.13.5-build1 --compression zstd --debug-symbols'],
  async run(ctx) {
    const { input, io, style, json } = ctx;
    const result = await readBuildResult(resolve(io.cwd, input.buildDir));
    const source = await fetchForCommand(ctx as CommandContext<unknown>, result.version, input);
    if (source.sha256 !== result.source.sha256) {
      throw new CpyError('CPY_ARTIFACT_SOURCE_MISMATCH', `the build used ${result.source.fileName} with sha256 ${result.source.sha256}; the verified source now has ${source.sha256}`, {
        hint: 'the release file changed since the build: build again from the verified source',
      });
    }
    ctx.log(`source ${source.fileName} verified again (${source.verification.method})`);
    const out = await packBuild(ctx as CommandContext<unknown>, result, source.verification, input);
    if (!json) io.stdout.write([`${style.bold(`Python ${result.version}`)} build ${result.build} ${style.ok('packed')} from ${result.buildDir}`, ...artifactLines(out, style)].join('\n') + '\n');
    const outcome = artifactOutcome(out, 'read the report; pack again without the option that broke it, or build again');
    return { exitCode: outcome.ok ? EXIT.ok : EXIT.failure, outcome: outcome.ok ? 'success' : 'error', data: { build: result, verification: source.verification, ...outcome.data } };
  },
});

export function reportLines(summary: string, checks: readonly { id: string; ok: boolean; detail: string }[], style: Style): string[] {
  return [
    ...checks.map((c) => `  ${c.ok ? style.ok('ok  ') : style.bad('FAIL')} ${c.id.padEnd(16)} ${c.detail}`),
    summary.startsWith('[SUCCESS]') ? style.ok(summary) : style.bad(summary.split('\n')[0] ?? summary),
  ];
}

export const artifactValidate = defineCommand({
  name: 'artifact validate',
  summary: 'Validate a cpy artifact',
  description:
    'Checks the checksum (<file>.sha256), the name, the metadata (schema), the LICENSE, that nothing unsafe or secret ' +
    'is inside, then extracts it to a temporary directory and runs python3 --version, imports ssl, sqlite3, uuid, lzma, ' +
    'bz2, ctypes, zlib and readline, runs pip --version and creates a venv, and compares the glibc floor with the ' +
    'metadata. Prints [SUCCESS] or the list of failures. Exit 0 when valid, 1 when not.',
  options: {
    checksum: { type: 'string', valueName: '<file>', description: 'the checksum file (default <file>.sha256)' },
  },
  positionals: [{ name: 'file', required: true, description: 'cpython-<version>-<os><osversion>-build<N>.tgz' }],
  schema: z
    .object({
      values: z.object({ checksum: z.string().min(1).optional() }),
      positionals: z.tuple([z.string().min(1)], { message: 'give one artifact file' }),
    })
    .transform(({ values, positionals }) => ({ file: positionals[0], checksum: values.checksum })),
  examples: ['cpy artifact validate dist/artifacts/cpython-3.13.5-debian12-build1.tgz --json'],
  async run({ input, io, style, json }) {
    const file = resolve(io.cwd, input.file);
    const report = await validateArtifact(file, input.checksum ? { checksumFile: resolve(io.cwd, input.checksum) } : {});
    if (!json) io.stdout.write([`${style.bold(file)}`, ...reportLines(report.summary, report.checks, style), ...(report.ok ? [] : report.summary.split('\n').slice(1))].join('\n') + '\n');
    const { metadata, ...rest } = report;
    return {
      exitCode: report.ok ? EXIT.ok : EXIT.failure,
      outcome: report.ok ? 'success' : 'error',
      data: {
        report: { ...rest, metadata },
        ...(report.ok ? {} : { error: { code: 'CPY_ARTIFACT_INVALID', message: report.summary.split('\n').slice(1).join('; '), hint: 'rebuild, or fix what the report names' } }),
      },
    };
  },
});
