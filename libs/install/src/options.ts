import { isAbsolute } from 'node:path';
import { pythonVersionSchema } from '@cpy/artifact';
import { z } from 'zod';

const absolutePath = z.string().refine((p) => isAbsolute(p) && !p.split('/').includes('..'), 'must be an absolute path without ..');
const location = z
  .string()
  .min(1)
  .refine((s) => /^(https?|file):\/\//.test(s) || isAbsolute(s) || s.startsWith('./') || s.startsWith('../') || !s.includes('://'), 'must be an http(s) or file URL, or a path');

/**
 * What `installPython` accepts: validated at the boundary, shared with the
 * Dev Container Feature and the CLI so the three agree on names and defaults.
 */
export const installOptionsSchema = z
  .object({
    /** `3.13.5`. Optional when artifactUrl names a cpython-<version>-... file. */
    version: pythonVersionSchema.optional(),
    /** The .tgz: https://, http://, file:// or a path. Without it, the cache must hold the version. */
    artifactUrl: location.optional(),
    /** Its `sha256sum` line; default `<artifactUrl>.sha256`. */
    checksumUrl: location.optional(),
    /** The expected sha256, instead of a checksum file. */
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits')
      .transform((s) => s.toLowerCase())
      .optional(),
    /** Where to install; default resolveLayout().prefixFor(version). */
    installPrefix: absolutePath.optional(),
    stateDir: absolutePath.optional(),
    /** Where to link python3, python, pip3, pip...; null: do not link. */
    binDir: absolutePath.nullable().optional(),
    cacheDir: absolutePath.optional(),
    /** Make this the version `python3` runs (default true). */
    activate: z.boolean().default(true),
    /** Skip running the installed python3 (not recommended). */
    skipValidation: z.boolean().default(false),
    /** Install the system libraries the artifact needs with the package manager (needs root). */
    installSystemDeps: z.boolean().default(false),
    /** Extra CA certificates (PEM) for https downloads. */
    caFile: absolutePath.optional(),
    /** How long to wait for another install of the same prefix. */
    lockTimeoutMs: z.number().int().positive().default(600_000),
  })
  .strict();

export type InstallOptions = z.input<typeof installOptionsSchema>;
export type ResolvedInstallOptions = z.output<typeof installOptionsSchema>;
