import { machine } from 'node:os';
import { join, resolve } from 'node:path';
import { buildCPython, cancelled, compilerEnvironment, createBuilder, crossNeedsContainer, ENVIRONMENT_COMPILER_VARIABLES, preflightHost, refuseUnbuildableWorkDir, withBuildLock, defaultCacheDir, parseBuildSpec, type BuildEvent, type BuildResult } from '@cpy/build';
import { CpyError, isCpyError, pythonVersionSchema } from '@cpy/core';
import * as z from 'zod';
import { EXIT, defineCommand, type CommandContext } from '../command.js';
import { summaryOf } from './table.js';
import { flagUsageError, positiveInt } from '../usage.js';
import type { CliIO } from '../io.js';
import { artifactLines, artifactOutcome, crossRunTests, PACK_OPTIONS, packForCommand, packConflicts, packValues, readyOutDir, type PackedAndValidated } from './artifact.js';
import { readyDirectory } from '../location.js';
import { FETCH_OPTIONS, fetchForCommand, fetchValues } from './source.js';
import { VAGRANT_OPTION, vagrantDir, vagrantValues } from './vm.js';
import { stopOnSignals } from '../signals.js';

const schema = z
  .object({
    values: z
      .object({
        build: positiveInt('a build number (1, 2, ...)').optional(),
        profile: z.enum(['fast', 'release']).optional(),
        builder: z.enum(['host', 'container', 'vagrant']).optional(),
        image: z.string().min(1).optional(),
        engine: z.enum(['podman', 'docker']).optional(),
        jobs: positiveInt('a number of jobs').optional(),
        prefix: z.string().min(1).optional(),
        arch: z
          .string()
          .regex(/^[a-z][a-z0-9_]*$/, 'must be an architecture as uname -m names it, e.g. aarch64')
          .optional(),
        'configure-arg': z.array(z.string()).optional(),
        'work-dir': z.string().min(1).optional(),
        ...packValues,
        ...fetchValues,
        ...vagrantValues,
      })
      .refine((v) => (v.builder === 'container') === Boolean(v.image), {
        message: '--builder container needs --image <image>, and --image needs --builder container',
        path: ['image'],
      })
      // Ignored without a word, as --image was refused: the build ran on the host.
      .refine((v) => !v.engine || v.builder === 'container', { message: 'is for --builder container (the engine that runs its container)', path: ['engine'] })
      .refine((v) => !v['vagrant-dir'] || v.builder === 'vagrant', { message: 'is for --builder vagrant (the folder of its Vagrantfile)', path: ['vagrant-dir'] })
      .superRefine(packConflicts),
    positionals: z.tuple([pythonVersionSchema], { message: 'give one version, e.g. 3.13.5' }),
  })
  .transform(({ values, positionals }) => ({ version: positionals[0], ...values }));

function describeEvent(event: BuildEvent): string | null {
  if (event.type === 'phase') return `${event.phase}${event.logFile ? ` (log: ${event.logFile})` : ''}`;
  if (event.type === 'phase-done') return `${event.phase} done in ${(event.elapsedMs / 1000).toFixed(1)} s`;
  return null;
}

/** Phase lines on stderr; make's progress redrawn on a terminal, every 15 s elsewhere. */
function buildProgress(ctx: CommandContext<unknown>, io: CliIO) {
  let lastLine = 0;
  let drawn = false;
  return (event: BuildEvent) => {
    if (event.type === 'progress') {
      const pct = event.ratio === null ? '' : ` ~${Math.round(event.ratio * 100)}%`;
      const text = `${event.phase}${pct}, ${Math.round(event.elapsedMs / 1000)} s`;
      if (io.stderr.isTTY) {
        io.stderr.write(`\r\u001b[2K${text}`);
        drawn = true;
      } else if (event.elapsedMs - lastLine >= 15_000) {
        lastLine = event.elapsedMs;
        ctx.log(text);
      }
      return;
    }
    if (drawn) {
      io.stderr.write('\n');
      drawn = false;
    }
    const line = describeEvent(event);
    if (line) ctx.log(line);
  };
}

export const build = defineCommand({
  name: 'build',
  summary: summaryOf('build'),
  description:
    'Fetches and verifies the source (as `cpy source fetch`), checks the builder (as `cpy doctor`), then runs ' +
    'configure, make and make install into a staging tree, with logs in <work-dir>/cpython-<version>-build<N>/logs, ' +
    'and checks that ssl, sqlite3, uuid, lzma, bz2, ctypes, zlib and readline import from the result; then packs the ' +
    'tree into cpython-<version>-<os><osversion>-build<N>.tgz with .sha256 and .json beside it (stripped, without the ' +
    'test suite, the static libpython or -O bytecode), writes the test suite as <name>.tests.tgz, and validates the ' +
    'artifact (as `cpy artifact validate`) where it is meant to run: on this host, or in the builder container or VM. ' +
    "--run-tests critical|full also runs CPython's tests on it in a relocated prefix (as `cpy artifact test`) and " +
    'records the result in its metadata. The artifact goes into -o only when those checks pass; one that fails them goes ' +
    'to <out>/rejected/ with <name>.rejected saying why (publish and index add refuse it), an earlier artifact left as it was. Profiles: fast (no PGO/LTO) or release (--enable-optimizations --with-lto). ' +
    'The python3 executable carries libpython itself (libpython3.X.so is still built, for programs that embed ' +
    'Python), so it needs no rpath and runs wherever it is moved or copied. --builder container builds inside a container ' +
    'from --image (installing the build dependencies there first): build in the oldest distro you support. ' +
    '--builder vagrant builds in the Vagrant VM of vagrant/Vagrantfile (Ubuntu 20.04 by default), bringing it up and ' +
    'provisioning it when needed; the work directory is shared with the VM at the same path (cpy vm halt stops it). ' +
    `${ENVIRONMENT_COMPILER_VARIABLES.join(', ')} set in the environment are passed to configure and make (a -march=native in CFLAGS makes an artifact other machines cannot run; validation says so, after the build). ` +
    'Ctrl-C stops the build and everything it started. Exit 0 when built, 1 when the build failed.',
  options: {
    build: { type: 'string', valueName: '<N>', description: 'build number (default 1)' },
    profile: { type: 'string', valueName: '<fast|release>', description: 'fast (default) or release (PGO + LTO, several times longer)' },
    builder: { type: 'string', valueName: '<host|container|vagrant>', description: 'where to build (default host)' },
    image: { type: 'string', valueName: '<image>', description: 'the container image for --builder container' },
    engine: { type: 'string', valueName: '<podman|docker>', description: 'container engine (default: the first that works)' },
    jobs: { type: 'string', short: 'j', valueName: '<N>', description: "make -j (default: the builder's CPU count)" },
    prefix: { type: 'string', valueName: '<dir>', description: 'the build prefix (default /opt/python-<version>): a directory of its own, not /, /usr, /usr/local or /opt (installs relocate it anywhere)' },
    arch: {
      type: 'string',
      valueName: '<arch>',
      description: "build for this architecture (uname -m: aarch64); default the builder's. Another is a cross build: --builder container with a Debian or Ubuntu image",
    },
    'configure-arg': { type: 'string', multiple: true, valueName: '<arg>', description: 'an extra ./configure argument' },
    'work-dir': { type: 'string', valueName: '<dir>', description: 'where builds happen (default <cache-dir>/builds)' },
    ...VAGRANT_OPTION,
    ...PACK_OPTIONS,
    ...FETCH_OPTIONS,
  },
  positionals: [{ name: 'version', required: true, description: 'a CPython release: 3.13.5' }],
  schema,
  examples: [
    'cpy build 3.13.5',
    'cpy build 3.13.5 --builder container --image localhost/debian-minbase:bullseye',
    'cpy build 3.13.5 --builder vagrant',
    'cpy build 3.13.5 --arch aarch64 --builder container --image localhost/debian-minbase:bookworm',
    'cpy build 3.13.5 --profile release --build 2 --json',
  ],
  async run(ctx) {
    const { input, io, style, json } = ctx;
    // On this host, its own architecture is no cross build (its build directory was named as one);
    // another is, which only a container runs: said before anything is fetched (it came after).
    const hostArch = input.builder === undefined || input.builder === 'host' ? machine() : null;
    if (hostArch && input.arch && input.arch !== hostArch) {
      const refusal = crossNeedsContainer(input.version, input.arch, hostArch, 'host');
      throw new CpyError('CPY_CLI_USAGE', `--arch ${input.arch}: ${refusal.message}`, { hint: refusal.hint });
    }
    // A cross build's tests cannot run (python3 starting python3 under user-mode emulation): said
    // before the build, not when packing it, minutes later.
    if (input.arch && input.arch !== machine() && input['run-tests']) throw crossRunTests(input.arch, `--arch ${input.arch}`);
    const raw = {
      version: input.version,
      ...(input.build ? { build: input.build } : {}),
      ...(input.profile ? { profile: input.profile } : {}),
      ...(input.jobs ? { jobs: input.jobs } : {}),
      ...(input.prefix ? { prefix: input.prefix } : {}),
      ...(input.arch && input.arch !== hostArch ? { arch: input.arch } : {}),
      configureArgs: input['configure-arg'] ?? [],
      env: compilerEnvironment(io.env),
      builder:
        input.builder === 'container'
          ? { kind: 'container', image: input.image!, ...(input.engine ? { engine: input.engine } : {}) }
          : input.builder === 'vagrant'
            ? { kind: 'vagrant', vagrantDir: vagrantDir(io, input['vagrant-dir']) }
            : { kind: 'host' },
    } satisfies Parameters<typeof parseBuildSpec>[0];
    let spec: ReturnType<typeof parseBuildSpec>;
    try {
      spec = parseBuildSpec(raw);
    } catch (error) {
      if (error instanceof z.ZodError) throw flagUsageError('build', error.issues, raw, SPEC_OPTIONS);
      throw error;
    }
    await readyOutDir(ctx as CommandContext<unknown>, input);
    const cacheDir = input['cache-dir'] ? resolve(io.cwd, input['cache-dir']) : defaultCacheDir(io.env);
    const workDir = input['work-dir'] ? resolve(io.cwd, input['work-dir']) : join(cacheDir, 'builds');
    // Before the download, as -o is: a work directory that cannot be made was said after it, as
    // another build holding it (CPY_BUILD_BUSY, from the lock that could not be created there).
    // (One no build can happen in is not made first.)
    refuseUnbuildableWorkDir(workDir);
    await readyDirectory(workDir, 'build in', '--work-dir');
    // A container or VM builder stays up until the artifact is validated in it: an artifact for
    // another distribution release cannot be judged on this host (bullseye's libssl1.1 is not here).
    const builder = spec.builder.kind === 'host' ? undefined : createBuilder(spec.builder);
    // Before the download: no container engine, no vagrant, no provider or a broken Vagrantfile fails at once.
    if (builder) ctx.log(`builder ${await builder.check()}`);
    // The build directory is this command's from before the download (a second build of it is
    // refused at once, not after its own download) until its tree is packed and validated.
    const { source, result, out } = await withBuildLock(workDir, spec, async () => {
      // This host's preflight before the download too: what it lacks was said after it.
      if (!builder) await preflightHost(spec, workDir);
      const source = await fetchForCommand(ctx as CommandContext<unknown>, spec.version, input);
      ctx.log(`source ${source.fileName} verified (${source.verification.method}), sha256 ${source.sha256}`);

      // Ctrl-C (or SIGTERM) until the end: the build stops at its signal, and what runs after it
      // (CPython's tests, validation) stops with the builder, which is stopped at once (its
      // container or VM processes with it); CPython's tests on this host stop at the signal.
      let building = true;
      const stop = stopOnSignals({
        log: ctx.log,
        stopping: 'stopping the build (Ctrl-C again to force)...',
        onStop: () => {
          if (!building) void builder?.stop();
        },
        // An exit, not a SIGKILL of itself: the exit hooks stop what is still running (make's
        // process group, the build container).
        force: () => process.exit(130),
      });
      try {
        const result: BuildResult = await buildCPython({ spec, source, workDir, locked: true, signal: stop.signal, onEvent: buildProgress(ctx as CommandContext<unknown>, io), ...(builder ? { builder } : {}) });
        building = false;
        if (stop.signal.aborted) throw cancelled();
        const out: PackedAndValidated = await packForCommand(ctx as CommandContext<unknown>, result, source.verification, input, builder ? { runner: (file, args) => builder.exec(file, args) } : {}, stop.signal).catch((error: unknown) => {
          // Stopped once packed, packBuild says what it left; before, the build was cancelled.
          throw stop.signal.aborted && !isCpyError(error, 'CPY_BUILD_CANCELLED') ? cancelled() : error;
        });
        if (stop.signal.aborted) throw cancelled();
        return { source, result, out };
      } finally {
        stop.release();
        await builder?.stop();
      }
    });
    if (!json) {
      const seconds = Object.values(result.durationsMs).reduce((a, b) => a + (b ?? 0), 0) / 1000;
      io.stdout.write(
        [
          `${style.bold(`Python ${result.version}`)} build ${result.build} (${result.profile}) ${style.ok('built')} in ${seconds.toFixed(0)} s on ${result.builder.description} (${result.os.prettyName})`,
          `  tree      ${result.installDir}`,
          `  modules   ${result.modules.present.join(' ')}`,
          ...result.warnings.map((w) => `  ${style.warn('warning')}: ${w}`),
          `  logs      ${join(result.buildDir, 'logs')}`,
          ...artifactLines(out, style),
        ].join('\n') + '\n',
      );
    }
    const outcome = artifactOutcome(out, 'read the report; the build logs are in the build directory');
    return {
      exitCode: outcome.ok ? EXIT.ok : EXIT.failure,
      outcome: outcome.ok ? 'success' : 'error',
      data: { build: result, source: { ...source, verification: undefined }, verification: source.verification, ...outcome.data },
    };
  },
});

/** Which option a field of the build spec comes from. */
const SPEC_OPTIONS: Record<string, string> = { build: '--build', jobs: '--jobs', prefix: '--prefix', arch: '--arch', profile: '--profile', configureArgs: '--configure-arg' };

