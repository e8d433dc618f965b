import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import type { Environment } from './layout.js';
import { runProgram } from './lazy.js';

/** This system's distribution, from /etc/os-release. */
export interface Distro {
  /** `debian`, `ubuntu`. */
  readonly id: string;
  /** `12`, `22.04`; empty on rolling releases. */
  readonly versionId: string;
}

/** Reads /etc/os-release (or /usr/lib/os-release); null when neither is there. */
export async function readDistro(paths: readonly string[] = ['/etc/os-release', '/usr/lib/os-release']): Promise<Distro | null> {
  for (const path of paths) {
    const text = await readFile(path, 'utf8').catch(() => null);
    if (text === null) continue;
    const field = (name: string) => new RegExp(`^${name}=("?)([^"\\n]*)\\1$`, 'm').exec(text)?.[2] ?? '';
    return { id: field('ID').toLowerCase(), versionId: field('VERSION_ID') };
  }
  return null;
}

/** `Debian 12`, as messages name a distribution. */
export function distroName(distro: Distro): string {
  return `${distro.id.charAt(0).toUpperCase()}${distro.id.slice(1)}${distro.versionId ? ` ${distro.versionId}` : ''}`;
}

/**
 * Answers "does this system's package archive have these packages?" before anything is
 * downloaded. A string: it cannot tell, and why (no apt-get; no package lists and not root to
 * fetch them; apt-get update failed).
 */
export interface PackageArchive {
  available(packages: readonly string[]): Promise<ReadonlyMap<string, boolean> | string>;
}

const APT_LISTS = '/var/lib/apt/lists';

/** Whether apt has package lists (a minimal image has none until `apt-get update`). */
export async function aptListsPresent(): Promise<boolean> {
  const names = await readdir(APT_LISTS).catch(() => [] as string[]);
  return names.some((n) => n.endsWith('_Packages') || n.endsWith('_Packages.lz4') || n.endsWith('.gz') || n.endsWith('.xz'));
}

/**
 * apt: `apt-cache policy` tells, for each package, whether the archive has a candidate. An image
 * without package lists (the usual case) gets them first with `apt-get update` when running as root.
 * Other package managers are not asked: builds are made on Debian and Ubuntu, and their package
 * names mean nothing to dnf or apk.
 */
export function systemArchive(options: { env?: Environment } = {}): PackageArchive {
  const apt = ['/usr/bin/apt-cache', '/bin/apt-cache'].some((p) => existsSync(p));
  const cache = new Map<string, boolean>();
  let updateFailed: string | null = null;
  return {
    async available(packages) {
      if (!apt) return 'no apt-get';
      const unknown = [...new Set(packages)].filter((p) => !cache.has(p));
      if (unknown.length > 0) {
        if (!(await aptListsPresent())) {
          if (updateFailed) return updateFailed;
          if (process.getuid?.() !== 0) return 'no package lists, and not root to fetch them';
          const env = { ...(options.env ?? process.env), DEBIAN_FRONTEND: 'noninteractive' };
          const failed = await runProgram('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 1024 * 1024 }).then(
            () => null,
            (e: { stderr?: string; message: string }) => (e.stderr || e.message).trim().split('\n').slice(-1).join(''),
          );
          if (failed !== null) return (updateFailed = `apt-get update failed: ${failed}`);
        }
        const { stdout } = await runProgram('apt-cache', ['policy', ...unknown], { maxBuffer: 16 * 1024 * 1024 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
        const candidates = new Map<string, boolean>();
        let name: string | null = null;
        for (const line of stdout.split('\n')) {
          const head = /^(\S+):$/.exec(line);
          if (head) name = head[1]!.replace(/:[a-z0-9]+$/, '');
          const candidate = /^\s+Candidate:\s+(\S+)/.exec(line);
          if (name && candidate) candidates.set(name, candidate[1] !== '(none)');
        }
        for (const p of unknown) cache.set(p, candidates.get(p) ?? false);
      }
      return new Map(packages.map((p) => [p, cache.get(p)!]));
    },
  };
}
