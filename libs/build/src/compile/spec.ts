import { availableParallelism } from 'node:os';
import { pythonVersionSchema } from '@cpy/core';
import * as z from 'zod';

const envName = z.enum(['CC', 'CXX', 'CFLAGS', 'CPPFLAGS', 'LDFLAGS', 'LIBS', 'PKG_CONFIG_PATH']);

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

/** Build prefixes that hold other software besides the build (see the prefix option). */
const SHARED_PREFIXES: ReadonlySet<string> = new Set(['/', '/usr', '/usr/local', '/opt']);

/**
 * What to build. Validated at the boundary (CLI flags, Nx options); the build
 * itself trusts it.
 */
export const buildSpecSchema = z
  .object({
    version: pythonVersionSchema,
    build: z.number().int().min(1).max(9999).default(1),
    /** Absolute install prefix; default /opt/python-<version>. */
    prefix: z
      .string()
      .regex(/^\/[^\s'"\\$`]*$/, 'an absolute path without spaces or quotes')
      // Relocation rewrites the build prefix wherever it is a whole path: one that holds other
      // software too would take its paths along (TZPATH=/usr/share/zoneinfo, -I/opt/openssl/include).
      .refine((p) => !SHARED_PREFIXES.has(p.replace(/\/+$/, '') || '/'), 'a directory of its own (as /opt/python-<version>), not one that holds other software: /, /usr, /usr/local or /opt')
      .optional(),
    /** `fast`: no PGO/LTO (tests, iterations). `release`: --enable-optimizations --with-lto. */
    profile: z.enum(['fast', 'release']).default('fast'),
    /** make -j; default: the builder's CPU count. */
    jobs: z.number().int().min(1).max(256).optional(),
    /**
     * Extra ./configure arguments, appended after cpy's own. Not the prefix: configure would then
     * install where cpy does not pack from (the build's --prefix is the prefix option).
     */
    configureArgs: z
      .array(z.string().refine((a) => !/^--(exec-)?prefix(=|$)/.test(a), 'the install prefix is the prefix option (cpy build --prefix), not a configure argument'))
      .default([]),
    /** Compiler environment for configure and make. */
    env: z.partialRecord(envName, z.string()).default({}),
    builder: builderSpecSchema.default({ kind: 'host' }),
    /**
     * The architecture to build for, as `uname -m` names it (`aarch64`); default the builder's.
     * Another than the builder's is a cross build (see cross.ts): Debian or Ubuntu builders only.
     */
    arch: z.string().regex(/^[a-z][a-z0-9_]*$/, 'an architecture as uname -m names it, e.g. aarch64').optional(),
  })
  .transform((spec) => ({ ...spec, prefix: spec.prefix ?? `/opt/python-${spec.version}` }));

export type BuildSpecInput = z.input<typeof buildSpecSchema>;
export type BuildSpec = z.output<typeof buildSpecSchema>;
export type BuilderSpec = z.output<typeof builderSpecSchema>;

/**
 * The make variable that links the python executable with libpython's objects, as a
 * static build does, while `--enable-shared` still builds and installs libpython3.X.so for
 * programs that embed Python (pkg-config python3-embed, PyInstaller). Debian and Ubuntu ship
 * their python3 the same way. The interpreter then needs nothing beside it: a copy of it
 * runs (`python3 -m venv --copies`), no rpath is needed, so none reaches sysconfig's
 * LDSHARED and LDFLAGS, and every extension users build is as clean as one built against
 * Debian's python3. Given to both `make` and `make install` (which would otherwise relink).
 */
export const STATIC_INTERPRETER = 'LINK_PYTHON_OBJS=$(LIBRARY_OBJS)';

/** The variables of a spec's env that configureArguments gives configure as arguments (the rest go in its environment). */
export const CONFIGURE_VARIABLES: ReadonlySet<string> = new Set(['CC', 'CXX', 'CFLAGS', 'CPPFLAGS', 'LDFLAGS']);

/** Programs that run a compiler given after them (`CC="ccache gcc"`): a build machine's, never an artifact's. */
const COMPILER_LAUNCHERS = new Set(['ccache', 'sccache', 'distcc', 'icecc']);

/**
 * A CC split into its launcher (`ccache`, with its path if given) and the compiler it runs
 * (`gcc -m64`). The compiler is what configure records, in the Makefile and sysconfig, for every
 * extension users build; the launcher is given to make alone (a `pip install` on a machine
 * without ccache failed with "command 'ccache' failed").
 */
export function splitCompiler(cc: string): { readonly launcher: string | null; readonly compiler: string } {
  const words = cc.trim().split(/\s+/).filter(Boolean);
  // CC=/usr/lib/ccache/gcc: a name in ccache's directory of compiler links, the compiler its basename.
  if (words.length === 1 && /\/ccache\/[^/]+$/.test(words[0]!)) return { launcher: words[0]!, compiler: words[0]!.split('/').pop()! };
  const launcher = words.length > 1 && COMPILER_LAUNCHERS.has(words[0]!.split('/').pop()!) ? words[0]! : null;
  return { launcher, compiler: (launcher ? words.slice(1) : words).join(' ') };
}

/** The compilers of a spec's env (CC, CXX) as make gets them when they have a launcher: `CC=ccache gcc`. */
export function launchedCompilers(spec: BuildSpec): string[] {
  return (['CC', 'CXX'] as const).flatMap((name) => (spec.env[name] && splitCompiler(spec.env[name]).launcher ? [`${name}=${spec.env[name].trim()}`] : []));
}

/**
 * cpy's configure arguments for a spec: a shared libpython (see STATIC_INTERPRETER for the
 * interpreter), the profile's optimisations, then the user's compiler (without its launcher) and
 * flags, recorded with the other arguments, and extra arguments.
 */
export function configureArguments(spec: BuildSpec): string[] {
  const args = [`--prefix=${spec.prefix}`, '--enable-shared'];
  for (const name of ['CC', 'CXX'] as const) if (spec.env[name]) args.push(`${name}=${splitCompiler(spec.env[name]).compiler}`);
  for (const name of ['CFLAGS', 'CPPFLAGS', 'LDFLAGS'] as const) if (spec.env[name]) args.push(`${name}=${spec.env[name]}`);
  if (spec.profile === 'release') args.push('--enable-optimizations', '--with-lto');
  return [...args, ...spec.configureArgs];
}

/** make -j for a spec on a builder with `cpus` CPUs. */
export function makeJobs(spec: BuildSpec, cpus: number = availableParallelism()): number {
  return spec.jobs ?? Math.max(1, cpus);
}

/**
 * The compiler variables a build takes from the environment it is started in (cpy build, and the
 * checks cpy doctor makes with them): CC, CXX, CFLAGS, CPPFLAGS, LDFLAGS. One list, so the build
 * and its doctor agree (LIBS and PKG_CONFIG_PATH only when a spec sets them).
 */
export const ENVIRONMENT_COMPILER_VARIABLES = ['CC', 'CXX', 'CFLAGS', 'CPPFLAGS', 'LDFLAGS'] as const;

/** Those of `env` that are set: the env of a build spec. */
export function compilerEnvironment(env: Readonly<Record<string, string | undefined>>): Partial<Record<(typeof ENVIRONMENT_COMPILER_VARIABLES)[number], string>> {
  return Object.fromEntries(ENVIRONMENT_COMPILER_VARIABLES.flatMap((k) => (env[k] ? [[k, env[k]]] : [])));
}

export function parseBuildSpec(input: BuildSpecInput): BuildSpec {
  return buildSpecSchema.parse(input);
}
