import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.js';

const run = promisify(execFile);

export type EngineName = 'podman' | 'docker';

/** The minimal Debian base images the setup script builds with debootstrap. */
export const BASE_IMAGES = {
  bookworm: 'localhost/debian-minbase:bookworm',
  bullseye: 'localhost/debian-minbase:bullseye',
} as const;
export type BaseImage = keyof typeof BASE_IMAGES;

export const SETUP_SCRIPT = 'scripts/setup-containers.sh';

/**
 * A shell script that installs Debian packages in a container, `apt-get update` included. Debian's
 * archive is the network here: a moment without DNS (seen in CI, on bullseye, whose apt does not
 * retry) fails a fetch, so up to three attempts, `pauseSeconds` apart; what the last one printed on
 * stderr is printed, and its status is the script's. apt's own output is dropped.
 */
export function aptInstallScript(packages: readonly string[], pauseSeconds = 10): string {
  const install = `apt-get install -y -qq --no-install-recommends ${packages.join(' ')}`;
  return (
    'export DEBIAN_FRONTEND=noninteractive; rc=1; for i in 1 2 3; do ' +
    `if { apt-get update -qq && ${install}; } >/dev/null 2>/tmp/apt.err; then rc=0; break; fi; ` +
    `[ $i = 3 ] || sleep ${pauseSeconds}; done; cat /tmp/apt.err >&2; [ $rc = 0 ]`
  );
}

export interface ContainerEngine {
  readonly name: EngineName;
  /** Runs the engine's CLI; rejects on a non-zero exit with its stderr in the message. */
  cli(args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<{ stdout: string; stderr: string }>;
}

async function works(name: EngineName): Promise<boolean> {
  try {
    await run(name, ['info'], { timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

/** Podman first (the engine that runs on these machines), then a working Docker; null if neither. */
export async function detectContainerEngine(): Promise<ContainerEngine | null> {
  for (const name of ['podman', 'docker'] as const) {
    if (await works(name)) {
      return {
        name,
        cli: async (args, options = {}) => {
          const child = run(name, [...args], { timeout: options.timeoutMs ?? 600_000, maxBuffer: 64 * 1024 * 1024 });
          if (options.input !== undefined) child.child.stdin?.end(options.input);
          return child;
        },
      };
    }
  }
  return null;
}

/** The engine, or an error that says how to set one up. */
export async function requireContainerEngine(): Promise<ContainerEngine> {
  const engine = await detectContainerEngine();
  if (!engine) {
    throw new Error(
      `No working container engine (podman or docker). Run \`bash ${join(repoRoot(), SETUP_SCRIPT)}\` as root to install and configure podman.`,
    );
  }
  return engine;
}

/** The image reference for a base image, after checking it exists (with a hint if not). */
export async function requireBaseImage(engine: ContainerEngine, which: BaseImage): Promise<string> {
  const image = BASE_IMAGES[which];
  try {
    await engine.cli(['image', 'inspect', '--format', '{{.Id}}', image]);
  } catch {
    throw new Error(`Base image ${image} is missing. Run \`bash ${join(repoRoot(), SETUP_SCRIPT)}\` to build it.`);
  }
  return image;
}

export interface RunningContainer {
  readonly id: string;
  /**
   * Runs a command inside; resolves with its exit code and output, never rejects for a non-zero exit.
   * `privileged`: with every capability (podman exec --privileged), to mount a filesystem in the container.
   */
  exec(argv: readonly string[], options?: { input?: string; privileged?: boolean }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  remove(): Promise<void>;
}

/**
 * Starts a long-lived container (`sleep infinity`) for a test to exec into,
 * with optional bind mounts; remove() deletes it by id.
 */
export async function startContainer(
  engine: ContainerEngine,
  image: string,
  options: { mounts?: ReadonlyArray<{ host: string; container: string; readOnly?: boolean }>; network?: 'host' | 'none' } = {},
): Promise<RunningContainer> {
  const args = ['run', '-d', '--rm'];
  for (const m of options.mounts ?? []) args.push('-v', `${m.host}:${m.container}${m.readOnly ? ':ro' : ''}`);
  if (options.network) args.push('--network', options.network);
  args.push(image, 'sleep', 'infinity');
  const { stdout } = await engine.cli(args);
  const id = stdout.trim();
  return {
    id,
    exec: async (argv, opts = {}) => {
      try {
        const r = await engine.cli(['exec', '-i', ...(opts.privileged ? ['--privileged'] : []), id, ...argv], { input: opts.input ?? '' });
        return { exitCode: 0, stdout: r.stdout, stderr: r.stderr };
      } catch (error) {
        const e = error as { code?: number | string; stdout?: string; stderr?: string };
        return { exitCode: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
      }
    },
    remove: async () => {
      await engine.cli(['rm', '-f', '-t', '0', id]).catch(() => undefined);
    },
  };
}

/**
 * A folder holding a `docker` that runs podman, to put first on PATH:
 * `devcontainer features test` has no --docker-path. Its builds use the host's
 * network, so they reach servers on 127.0.0.1 (a real artifact URL is reachable
 * from the default network; loopback test servers are not).
 */
export async function podmanDockerShim(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'docker'), '#!/bin/sh\nif [ "$1" = build ]; then shift; exec podman build --network=host "$@"; fi\nexec podman "$@"\n', { mode: 0o755 });
  return dir;
}
