import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { CpyError } from '@cpy/core';
import { hostExec, type Exec } from '../exec.js';
import { hostRunner, logTail, type Runner } from './runner.js';
import type { BuilderSpec } from './spec.js';
import { vagrantBuilder } from './vagrant.js';

/** A place a build runs: this host, a container or the Vagrant VM, with the build directory at the same path. */
export interface Builder {
  readonly kind: BuilderSpec['kind'];
  /** For people: `this host`, `container localhost/debian-minbase:bullseye (podman)`. */
  readonly description: string;
  /** Short commands (probes). */
  readonly exec: Exec;
  /** Long commands with logs. */
  readonly run: Runner;
  /**
   * Gets the builder ready (a container: started and provisioned; once, so a
   * builder can serve several builds). Output goes to `logFile`.
   */
  start(buildDir: string, logFile: string, signal?: AbortSignal, options?: StartOptions): Promise<void>;
  /**
   * Says at once, before any source is fetched, what would stop this builder from starting: no
   * working container engine (CPY_BUILD_NO_CONTAINER_ENGINE); no vagrant, no provider or a broken
   * Vagrantfile (CPY_BUILD_VAGRANT_FAILED). Returns how it stands, for people.
   */
  check(): Promise<string>;
  /** A stable id of the environment for cache keys and metadata (image id). */
  identity(): Promise<string>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /**
   * The architecture the build is for (`aarch64`): a container provisions the cross toolchain,
   * the target's -dev packages and qemu-user-static when it is not the container's own.
   */
  readonly targetArch?: string;
}

export const PROVISION_SCRIPT = new URL('../../provision/provision-builder.sh', import.meta.url);

export function hostBuilder(): Builder {
  return {
    kind: 'host',
    description: 'this host',
    exec: hostExec,
    run: hostRunner(),
    start: async () => undefined,
    check: async () => 'this host',
    identity: async () => 'host',
    stop: async () => undefined,
  };
}

async function detectEngine(preferred?: 'podman' | 'docker'): Promise<'podman' | 'docker'> {
  // Why each one tried does not work, in its own words (a docker client without its daemon, say).
  const why: string[] = [];
  for (const engine of preferred ? [preferred] : (['podman', 'docker'] as const)) {
    const r = await execa(engine, ['version'], { reject: false, timeout: 60_000 });
    if (r.exitCode === 0) return engine;
    const said = (r.stderr || r.stdout || '').trim().split('\n').filter(Boolean).pop();
    why.push(`${engine}: ${r.failed && r.exitCode === undefined ? 'not installed' : (said ?? `exit ${r.exitCode}`)}`);
  }
  // Another engine that works here, when one was asked for.
  const other = preferred === 'docker' ? 'podman' : preferred === 'podman' ? 'docker' : null;
  const otherWorks = other !== null && (await execa(other, ['version'], { reject: false, timeout: 60_000 })).exitCode === 0;
  throw new CpyError('CPY_BUILD_NO_CONTAINER_ENGINE', `no working container engine (${why.join('; ')})`, {
    hint: otherWorks ? `${other} works here: use --engine ${other}` : 'install podman (apt-get install podman), or use --builder host',
  });
}

/**
 * The commands that remove a build container at once, the first that works ends it: its `sleep
 * infinity` ignores SIGTERM, and podman's `rm -f` waits 10 s for it before SIGKILL (docker's sends
 * SIGKILL); a podman older than 3.4 has no `rm -t`, and removes it with the plain `rm -f`.
 */
const removeCommands = (engine: 'podman' | 'docker', id: string): string[][] => [...(engine === 'podman' ? [['rm', '-f', '-t', '0', id]] : []), ['rm', '-f', id]];

async function removeContainer(engine: 'podman' | 'docker', id: string): Promise<void> {
  for (const args of removeCommands(engine, id)) if ((await execa(engine, args, { reject: false })).exitCode === 0) return;
}

/** The same, as a process's `exit` hook must: synchronously. */
function removeContainerNow(engine: 'podman' | 'docker', id: string): void {
  for (const args of removeCommands(engine, id)) if (spawnSync(engine, args, { stdio: 'ignore' }).status === 0) return;
}

/**
 * A build container: started from `image` with the build directory mounted at
 * the same path, provisioned with libs/build/provision/provision-builder.sh,
 * removed by id afterwards (and on cancel, which stops everything in it).
 */
export function containerBuilder(spec: Extract<BuilderSpec, { kind: 'container' }>): Builder {
  let engine: 'podman' | 'docker' | undefined;
  let id: string | undefined;
  const host = hostRunner();
  const need = () => {
    if (!engine || !id) throw new Error('the container builder is not started');
    return { engine, id };
  };
  // A cpy that exits at once (a second Ctrl-C: process.exit) still removes its container; it
  // was left running `sleep infinity`, with whatever it was running (apt-get, make) inside.
  const removeOnExit = () => {
    if (engine && id) removeContainerNow(engine, id);
  };
  const envArgs = (env: Readonly<Record<string, string | undefined>> | undefined) =>
    Object.entries(env ?? {}).flatMap(([k, v]) => (v === undefined ? [] : ['-e', `${k}=${v}`]));

  const builder: Builder = {
    kind: 'container',
    description: `container ${spec.image}`,
    exec: async (file, args, options = {}) => {
      const c = need();
      return hostExec(c.engine, ['exec', ...(options.input !== undefined ? ['-i'] : []), ...(options.cwd ? ['-w', options.cwd] : []), ...envArgs(options.env), c.id, file, ...args], {
        ...(options.input !== undefined ? { input: options.input } : {}),
      });
    },
    run: async (argv, options) => {
      const c = need();
      const onAbort = () => void removeContainer(c.engine, c.id);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return await host([c.engine, 'exec', ...(options.cwd ? ['-w', options.cwd] : []), ...envArgs(options.env), c.id, ...argv], {
          logFile: options.logFile,
          ...(options.onLine ? { onLine: options.onLine } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } finally {
        options.signal?.removeEventListener('abort', onAbort);
      }
    },
    async start(buildDir, logFile, signal, options = {}) {
      if (id) return; // started (and provisioned) by an earlier build with this builder
      engine ??= await detectEngine(spec.engine);
      const name = `cpy-build-${randomBytes(4).toString('hex')}`;
      const started = await execa(engine, ['run', '-d', '--rm', '--name', name, '-v', `${buildDir}:${buildDir}`, '-w', buildDir, spec.image, 'sleep', 'infinity'], { reject: false });
      if (started.exitCode !== 0) {
        throw new CpyError('CPY_BUILD_CONTAINER_FAILED', `cannot start a container from ${spec.image}: ${String(started.stderr).trim().split('\n').pop()}`, {
          hint: `check that the image exists (${engine} images) and that ${engine} works (${engine} run --rm ${spec.image} true)`,
        });
      }
      id = String(started.stdout).trim();
      process.once('exit', removeOnExit);
      (builder as { description: string }).description = `container ${spec.image} (${engine})`;
      if (!spec.provision) return;
      const script = await readFile(PROVISION_SCRIPT, 'utf8');
      const target = options.targetArch ? ['-e', `CPY_PROVISION_TARGET_ARCH=${options.targetArch}`] : [];
      const r = await host([engine, 'exec', '-e', `CPY_PROVISION_EXCLUDE=${spec.provisionExclude.join(' ')}`, ...target, id, 'sh', '-c', script], {
        logFile,
        ...(signal ? { signal } : {}),
      });
      if (r.exitCode !== 0) {
        const last = (await logTail(logFile, 5)).map((l) => `    ${l}`).join('\n');
        throw new CpyError('CPY_BUILD_PROVISION_FAILED', `installing the build dependencies in ${spec.image} failed (exit ${r.exitCode}; log: ${logFile}):\n${last}`, {
          hint: `read ${logFile}; the image needs a working apt-get, dnf or apk with a reachable package archive`,
          details: { logFile },
        });
      }
    },
    async check() {
      engine ??= await detectEngine(spec.engine);
      // The image, before the source download: one not here is pulled now (as `run` would pull
      // it), and one that cannot be had (a typo, no registry) is said at once.
      const here = await execa(engine, ['image', 'inspect', '--format', '{{.Id}}', spec.image], { reject: false });
      if (here.exitCode !== 0) {
        const pulled = await execa(engine, ['pull', spec.image], { reject: false });
        if (pulled.exitCode !== 0) {
          const said = String(pulled.stderr || pulled.stdout).trim().split('\n').filter(Boolean).pop() ?? `exit ${pulled.exitCode}`;
          throw new CpyError('CPY_BUILD_CONTAINER_FAILED', `no image ${spec.image} here, and ${engine} cannot pull it: ${said}`, {
            hint: `check the name (${engine} images lists the images here), or pull or build it first`,
          });
        }
      }
      return `container ${spec.image} (${engine})`;
    },
    async identity() {
      const e = engine ?? (await detectEngine(spec.engine));
      const r = await execa(e, ['image', 'inspect', '--format', '{{.Id}}', spec.image], { reject: false });
      return r.exitCode === 0 ? `${spec.image}@${String(r.stdout).trim()}` : spec.image;
    },
    async stop() {
      if (engine && id) await removeContainer(engine, id);
      id = undefined;
      process.removeListener('exit', removeOnExit);
    },
  };
  return builder;
}

export function createBuilder(spec: BuilderSpec): Builder {
  if (spec.kind === 'vagrant') return vagrantBuilder({ vagrantDir: spec.vagrantDir });
  return spec.kind === 'host' ? hostBuilder() : containerBuilder(spec);
}
