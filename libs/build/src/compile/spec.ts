import { availableParallelism } from 'node:os';
import { pythonVersionSchema } from '@cpy/artifact';
import { z } from 'zod';

const envName = z.enum(['CC', 'CFLAGS', 'CPPFLAGS', 'LDFLAGS', 'LIBS', 'PKG_CONFIG_PATH']);

/** Where the build runs. */
export const builderSpecSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('host') }),
  z.object({
    kind: z.literal('container'),
    /** The base image; its package manager installs the build dependencies first. */
    image: z.string().min(1),
    /** podman or docker; default: the first that works. */
    engine: z.enum(['podman', 'docker']).optional(),
    /** Install the build dependencies in the container first (default true). */
    provision: z.boolean().default(true),
    /** Packages the provisioning leaves out (to test what a missing one does). */
    provisionExclude: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/)).default([]),
  }),
  z.object({
    kind: z.literal('vagrant'),
    /** The folder holding the Vagrantfile (vagrant/ in this repository). */
    vagrantDir: z.string().min(1),
  }),
]);

/**
 * What to build. Validated at the boundary (CLI flags, Nx options); the build
 * itself trusts it.
 */
export const buildSpecSchema = z
  .object({
    version: pythonVersionSchema,
    build: z.number().int().min(1).max(9999).default(1),
    /** Absolute install prefix; default /opt/python-<version>. */
    prefix: z.string().regex(/^\/[^\s'"\\$`]*$/, 'an absolute path without spaces or quotes').optional(),
    /** `fast`: no PGO/LTO (tests, iterations). `release`: --enable-optimizations --with-lto. */
    profile: z.enum(['fast', 'release']).default('fast'),
    /** make -j; default: the builder's CPU count. */
    jobs: z.number().int().min(1).max(256).optional(),
    /** Extra ./configure arguments, appended after cpy's own. */
    configureArgs: z.array(z.string()).default([]),
    /** Compiler environment for configure and make. */
    env: z.partialRecord(envName, z.string()).default({}),
    builder: builderSpecSchema.default({ kind: 'host' }),
  })
  .transform((spec) => ({ ...spec, prefix: spec.prefix ?? `/opt/python-${spec.version}` }));

export type BuildSpecInput = z.input<typeof buildSpecSchema>;
export type BuildSpec = z.output<typeof buildSpecSchema>;
export type BuilderSpec = z.output<typeof builderSpecSchema>;

/**
 * The rpath that keeps the tree runnable wherever it is moved (bin/python3 and
 * lib/*.so find lib/libpython3.x.so). Written for configure, which copies it
 * into the Makefile, where make turns `$$` into `$` and the recipe's shell turns
 * `\$` into `$`: the linker gets a literal `$ORIGIN`. (Plain `$ORIGIN` here
 * gives `RIGIN/../lib`: make expands `$O`.)
 */
export const ORIGIN_RPATH = '-Wl,-rpath,\\$$ORIGIN/../lib';

/**
 * cpy's configure arguments for a spec: shared libpython found through an
 * $ORIGIN-relative rpath, the profile's optimisations, then the user's extra
 * arguments.
 */
export function configureArguments(spec: BuildSpec): string[] {
  const ldflags = [ORIGIN_RPATH, spec.env.LDFLAGS].filter(Boolean).join(' ');
  const args = [`--prefix=${spec.prefix}`, '--enable-shared', `LDFLAGS=${ldflags}`];
  if (spec.profile === 'release') args.push('--enable-optimizations', '--with-lto');
  return [...args, ...spec.configureArgs];
}

/** make -j for a spec on a builder with `cpus` CPUs. */
export function makeJobs(spec: BuildSpec, cpus: number = availableParallelism()): number {
  return spec.jobs ?? Math.max(1, cpus);
}

export function parseBuildSpec(input: BuildSpecInput): BuildSpec {
  return buildSpecSchema.parse(input);
}
