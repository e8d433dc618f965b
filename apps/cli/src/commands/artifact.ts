import { resolve } from 'node:path';
import { CpyError, packArtifact, validateArtifact, type Compression, type PackedArtifact } from '@cpy/artifact';
import { artifactMetadataFor, type BuildResult, type SourceVerification } from '@cpy/build';
import { z } from 'zod';
import { EXIT, defineCommand } from '../command.js';
import type { Style } from '../io.js';

export async function packBuild(
  result: BuildResult,
  verification: SourceVerification,
  outDir: string,
  options: { keepTests: boolean; strip: boolean; compression: Compression; debugSymbols: boolean },
): Promise<PackedArtifact> {
  if (!result.os.versionId) {
    throw new CpyError('CPY_ARTIFACT_UNKNOWN_OS', `the builder (${result.os.prettyName}) has no VERSION_ID in /etc/os-release`, {
      hint: 'build on (or in a container of) a released distribution',
    });
  }
  return packArtifact({
    installDir: result.installDir,
    metadata: artifactMetadataFor(result, verification),
    outDir,
    keepTests: options.keepTests,
    strip: options.strip,
    compression: options.compression,
    debugSymbols: options.debugSymbols,
    packagesFor: async () => result.runtimePackages,
  });
}

export function reportLines(summary: string, checks: readonly { id: string; ok: boolean; detail: string }[], style: Style): string[] {
  return [
    ...checks.map((c) => `  ${c.ok ? style.ok('ok  ') : style.bad('FAIL')} ${c.id.padEnd(16)} ${c.detail}`),
    summary.startsWith('[SUCCESS]') ? style.ok(summary) : style.bad(summary.split('\n')[0]!),
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
