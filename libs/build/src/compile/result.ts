import { readFile, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { CpyError, SHA256_HEX_RE } from '@cpy/core';
import * as z from 'zod';
import { BUILD_RESULT_FILE, type BuildResult } from './build.js';
import { builderSpecSchema } from './spec.js';

const strings = z.array(z.string());

/** build-result.json as `buildCPython` writes it: read back at the boundary, checked field by field. */
const buildResultSchema = z.object({
  version: z.string(),
  build: z.number().int().min(1),
  profile: z.enum(['fast', 'release']),
  prefix: z.string(),
  buildDir: z.string(),
  stagingDir: z.string(),
  installDir: z.string(),
  logs: z.record(z.string(), z.string()),
  configureArgs: strings,
  makeJobs: z.number().int(),
  compiler: z.string(),
  os: z.object({ id: z.string(), versionId: z.string(), prettyName: z.string(), family: z.enum(['debian', 'rhel', 'alpine', 'unknown']) }),
  builder: z.object({ kind: z.string(), description: z.string(), identity: z.string(), spec: builderSpecSchema.optional() }),
  modules: z.object({
    present: strings,
    missing: z.array(z.object({ id: z.string(), critical: z.boolean(), error: z.string(), packages: strings })),
    cpython: z.object({ notFound: strings, failedToBuild: strings, failedToImport: strings }),
  }),
  arch: z.string(),
  // Absent in results of builds before cross builds: native ones.
  cross: z
    .object({
      arch: z.string(),
      build: z.string(),
      host: z.string(),
      buildPython: z.string(),
      emulator: z.object({ program: z.string(), args: strings }).nullable(),
      checks: z.array(z.object({ id: z.string(), ran: z.boolean(), ok: z.boolean(), detail: z.string() })),
    })
    .nullable()
    .default(null),
  runtimePackages: z.record(z.string(), strings),
  warnings: strings,
  durationsMs: z.record(z.string(), z.number()),
  source: z.object({ path: z.string(), fileName: z.string(), sha256: z.string().regex(SHA256_HEX_RE) }),
  finishedAt: z.string(),
});

/** Reads what a finished build left in `buildDir` (`<work-dir>/cpython-<version>-build<N>`). */
export async function readBuildResult(buildDir: string): Promise<BuildResult> {
  const file = join(buildDir, BUILD_RESULT_FILE);
  let problem = 'does not exist';
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EISDIR') problem = 'is a directory';
    return null;
  });
  if (text === null) {
    throw new CpyError('CPY_BUILD_NOT_FINISHED', `${file} ${problem}: ${buildDir} is not a finished build`, {
      hint: 'give the build directory `cpy build` printed (<work-dir>/cpython-<version>-build<N>), or build first',
    });
  }
  let parsed: ReturnType<typeof buildResultSchema.safeParse>;
  try {
    parsed = buildResultSchema.safeParse(JSON.parse(text));
  } catch (cause) {
    throw new CpyError('CPY_BUILD_RESULT_INVALID', `${file} is not JSON: ${(cause as Error).message}`, { hint: 'build again', cause });
  }
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CpyError('CPY_BUILD_RESULT_INVALID', `${file} does not match what this cpy writes: ${issue.path.join('.')}: ${issue.message}`, {
      hint: 'it was written by another version of cpy, or edited: build again',
    });
  }
  // A build directory moved or copied since: the tree in it, not the one where it was built.
  const recorded = parsed.data as BuildResult;
  const here = resolve(buildDir);
  const inside = (path: string) => path.startsWith(`${recorded.buildDir}/`);
  const result: BuildResult =
    here !== recorded.buildDir && inside(recorded.installDir) && inside(recorded.stagingDir)
      ? { ...recorded, buildDir: here, stagingDir: join(here, relative(recorded.buildDir, recorded.stagingDir)), installDir: join(here, relative(recorded.buildDir, recorded.installDir)) }
      : recorded;
  const tree = await stat(result.installDir).catch(() => null);
  if (!tree?.isDirectory()) {
    throw new CpyError('CPY_BUILD_NOT_FINISHED', `${result.installDir}, the tree this build installed, ${tree ? 'is not a directory' : 'is not there'}: ${buildDir} holds only its record`, {
      hint: 'build again (cpy build): the tree was removed or moved since',
    });
  }
  return result;
}
