import { CpyError, type NeedGroup, parseVersion, type RuntimeNeed } from '@cpy/core';
import { type ArtifactIndex, compareEntries, type IndexEntry } from '@cpy/artifact/index-format';
import { distroName, readDistro, systemArchive, type Distro, type PackageArchive } from './archive.js';
import { loadableLibraries, platformMismatch } from './compat.js';
import type { Environment } from './layout.js';
import type { HostPlatform } from './host.js';
import { describeRequest, matchesRequest, type VersionRequest } from './request.js';

/** What decides whether a build fits this host. */
export interface HostContext {
  readonly host: HostPlatform;
  readonly distro: Distro | null;
  /** The shared libraries the dynamic loader finds now. */
  readonly loadable: ReadonlySet<string>;
  readonly archive: PackageArchive;
  /** tkinter's libraries count only when they are to be installed. */
  readonly installTk: boolean;
}

/** The parts of a build that decide where it runs: an index entry, or an artifact's metadata in that shape. */
export type BuildTarget = Pick<IndexEntry, 'os' | 'osVersion' | 'arch' | 'libc' | 'glibcFloor'> & { readonly needs: readonly RuntimeNeed[] };

export interface Fit {
  readonly fits: boolean;
  /** Why it fits, or why not, in words for the user. */
  readonly why: string;
  /** Built for this very distribution and version. */
  readonly sameDistro: boolean;
  /** It did not fit only because the package archive could not be asked. */
  readonly unknown?: boolean;
}

const label = (t: BuildTarget) => `the ${t.os}${t.osVersion} build`;
const hostLabel = (ctx: HostContext) => (ctx.distro ? distroName(ctx.distro) : 'this system');

/**
 * Whether one build runs here: architecture, C library, glibc floor, then its system libraries
 * (`groups`: which of them count; by default the critical and optional ones, and tkinter's with installTk).
 * `behindOwn`: a build of the same version for this very distribution fits (a listing of every
 * build says so; an install never reaches another distribution's build then).
 */
export async function fitOf(
  target: BuildTarget,
  ctx: HostContext,
  groups: readonly NeedGroup[] = ctx.installTk ? ['critical', 'optional', 'tk'] : ['critical', 'optional'],
  behindOwn = false,
): Promise<Fit> {
  const { host } = ctx;
  const lead = behindOwn ? `fits too, after the ${hostLabel(ctx)} build:` : `no ${hostLabel(ctx)} build;`;
  const sameDistro = ctx.distro !== null && ctx.distro.id === target.os && ctx.distro.versionId === target.osVersion;
  const no = (why: string): Fit => ({ fits: false, why, sameDistro });
  const mismatch = platformMismatch(label(target), target, host);
  if (mismatch) return no(mismatch.message);
  if (sameDistro) return { fits: true, why: `built for ${hostLabel(ctx)}, like this host`, sameDistro };
  const lacking = target.needs.filter((n) => groups.includes(n.group) && !ctx.loadable.has(n.soname));
  const floor = target.glibcFloor ? `its glibc floor ${target.glibcFloor} fits glibc ${host.glibcVersion}` : 'it needs no particular glibc';
  if (lacking.length === 0) return { fits: true, why: `${lead} ${floor} and this host has every library it needs`, sameDistro };
  const wanted = [...new Set(lacking.flatMap((n) => n.packages))];
  const unnamed = lacking.filter((n) => n.packages.length === 0).map((n) => n.soname);
  if (unnamed.length > 0) return no(`${label(target)} needs ${unnamed.join(', ')}, which this host lacks`);
  const have = await ctx.archive.available(wanted);
  if (typeof have === 'string') {
    return { ...no(`${label(target)} needs ${wanted.join(', ')}, and cpy cannot ask this system's package archive (${have})`), unknown: true };
  }
  // A library is provided when one of the packages that provided it on the builder exists here.
  const missing = lacking.filter((n) => !n.packages.some((p) => have.get(p))).flatMap((n) => n.packages);
  if (missing.length > 0) return no(`${label(target)} needs ${[...new Set(missing)].join(', ')}, which ${hostLabel(ctx)} does not provide`);
  return { fits: true, why: `${lead} ${floor} and its packages (${wanted.join(' ')}) are in this system's archive`, sameDistro };
}

/** The host as the index sees it: distribution, loadable libraries, package archive. */
export async function defaultHostContext(host: HostPlatform, installTk: boolean, env: Environment, loadable = loadableLibraries): Promise<HostContext> {
  return { host, distro: await readDistro(), loadable: await loadable(), archive: systemArchive({ env }), installTk };
}

export interface Considered {
  readonly entry: IndexEntry;
  readonly fits: boolean;
  readonly why: string;
  /** Refused only because this system's package archive could not be asked (fitOf's `unknown`). */
  readonly unknown?: boolean;
  /** A pre-release, which a request for its line does not take. */
  readonly preRelease?: boolean;
}

export interface Resolution {
  readonly entry: IndexEntry;
  /** Why this build was chosen. */
  readonly reason: string;
  /**
   * The build is deprecated in the index (newer builds of its line replace it): chosen only because
   * the request named its version exactly, or its sha256, and no active build answered.
   */
  readonly deprecated: boolean;
  /** The builds looked at, in the order they were, with their verdicts. */
  readonly considered: readonly Considered[];
}

/**
 * The order builds are tried in: newest version first; within a version, builds for this very
 * distribution first, then the highest build number, then the newest distribution version.
 */
function preference(ctx: HostContext) {
  const same = (e: IndexEntry) => (ctx.distro !== null && ctx.distro.id === e.os && ctx.distro.versionId === e.osVersion ? 0 : 1);
  return (a: IndexEntry, b: IndexEntry) => {
    if (a.version !== b.version) return compareEntries(a, b);
    return same(a) - same(b) || b.build - a.build || compareEntries(a, b);
  };
}

/** Every build of the index that answers the request, each with whether it fits this host and why. */
export async function considerBuilds(
  index: ArtifactIndex,
  request: VersionRequest,
  ctx: HostContext,
  options: { stopAtFirstFit?: boolean; sha256?: string | undefined; deprecated?: boolean } = {},
): Promise<Considered[]> {
  const out: Considered[] = [];
  // The versions a build for this very distribution fits (they sort first within a version).
  const ownFits = new Set<string>();
  const wanted = index.artifacts.filter((e) => matchesRequest(e.version, request) || (!request.exact && parseVersion(e.version)?.pre && matchesRequest(e.version.replace(/(a|b|rc)\d+$/, ''), request)));
  for (const entry of wanted.sort(preference(ctx))) {
    let verdict: { fits: boolean; why: string; unknown?: boolean; preRelease?: boolean };
    if (options.sha256 && entry.sha256 !== options.sha256) verdict = { fits: false, why: 'not the build whose sha256 was given' };
    else if (entry.state === 'removed' || (entry.state === 'deprecated' && !options.deprecated)) verdict = { fits: false, why: entry.state === 'deprecated' ? 'deprecated: newer builds replace it' : 'removed: its release was deleted' };
    else if (!matchesRequest(entry.version, request)) verdict = { fits: false, why: `a pre-release: ask for it by name (${entry.version})`, preRelease: true };
    else {
      const fit = await fitOf(entry, ctx, undefined, ownFits.has(entry.version));
      if (fit.fits && fit.sameDistro) ownFits.add(entry.version);
      verdict = fit;
    }
    out.push({ entry, fits: verdict.fits, why: verdict.why, ...(verdict.unknown ? { unknown: true } : {}), ...(verdict.preRelease ? { preRelease: true } : {}) });
    if (verdict.fits && options.stopAtFirstFit) break;
  }
  return out;
}

/** What to do when no build fits: it depends on why none did. */
function noMatchHint(considered: readonly Considered[], request: VersionRequest, ctx: HostContext, sha256: string | undefined): string {
  if (sha256 && !considered.some((c) => c.entry.sha256 === sha256)) {
    return `no build of ${describeRequest(request)} in the index has the sha256 given: fix it, or leave it empty for the build the index chooses`;
  }
  const kept = considered.find((c) => c.entry.state === 'deprecated');
  if (!request.exact && !sha256 && kept && considered.every((c) => c.entry.state !== 'active')) {
    return `newer builds deprecated them: the index keeps them for installs that name their version (${kept.entry.version}); ask for one by name, or for a version it lists as active (cpy list --available)`;
  }
  // Only pre-releases answer (3.14 before 3.14.0 is out): asking by name installs one.
  const pre = considered.find((c) => c.preRelease);
  if (pre && considered.every((c) => c.preRelease)) return `only pre-releases of ${request.text} are published: ask for one by name (cpy install ${pre.entry.version}), or wait for the release`;
  // A build that may well fit, but this system's package archive could not be asked (no package
  // lists in the image, not root): building one would not be the remedy.
  if (considered.some((c) => c.unknown)) {
    return "cpy could not ask this system's package archive whether it has what those builds need: run apt-get update (as root), or install as root, then run again; or install the packages the message names first";
  }
  const image = ctx.distro?.id && ctx.distro.versionId ? `${ctx.distro.id}:${ctx.distro.versionId}` : '<this image>';
  return `build one on this distribution (cpy build ${request.exact ? request.text : '<version>'} --builder container --image ${image}) and publish it, or install on a host one of them fits`;
}

function hostSummary(ctx: HostContext): string {
  const { host, distro } = ctx;
  return [distro ? `${distro.id} ${distro.versionId}`.trim() : null, host.arch, host.glibcVersion ? `glibc ${host.glibcVersion}` : host.libc].filter(Boolean).join(', ');
}

/**
 * Chooses the build of `request` for this host from the index: among the newest active builds, one
 * for this distribution and version if there is one; otherwise one whose glibc floor fits and whose
 * system libraries are here or in this system's package archive (`sha256`: only the build with that
 * sha256). Refuses with every candidate and why it does not fit.
 */
export async function resolveBuild(index: ArtifactIndex, request: VersionRequest, ctx: HostContext, source: string, sha256?: string): Promise<Resolution> {
  let considered = await considerBuilds(index, request, ctx, { stopAtFirstFit: true, sha256 });
  const chosen = considered.find((c) => c.fits);
  if (chosen) return { entry: chosen.entry, reason: chosen.why, considered, deprecated: false };
  // A version (or a sha256) pinned by name keeps installing once newer builds of its line have
  // deprecated it, as long as its release is there: a pinned Dev Container stopped building when
  // the third newer patch release was published.
  if ((request.exact || sha256) && considered.some((c) => c.entry.state === 'deprecated')) {
    const again = await considerBuilds(index, request, ctx, { stopAtFirstFit: true, sha256, deprecated: true });
    const old = again.find((c) => c.fits);
    if (old) return { entry: old.entry, reason: old.why, considered: again, deprecated: true };
    // Refused all the same: why each deprecated build does not fit this host.
    considered = again;
  }
  if (considered.length === 0) {
    const published = [...new Set(index.artifacts.filter((e) => e.state === 'active').map((e) => e.version))];
    throw new CpyError('CPY_INSTALL_VERSION_NOT_PUBLISHED', `the index ${source} lists no build of ${describeRequest(request)}${published.length ? ` (it lists ${published.join(', ')})` : ' (it is empty)'}`, {
      hint: published.length ? `ask for one it lists (cpy list --available), or build and publish ${request.text}` : 'publish a build first (cpy publish), or point at another index',
      details: { request: request.text, published },
    });
  }
  throw new CpyError(
    'CPY_INSTALL_NO_MATCHING_BUILD',
    `no published build of ${describeRequest(request)} fits this host (${hostSummary(ctx)}): ${considered.map((c) => `${c.entry.file} (${c.entry.arch}): ${c.why}`).join('; ')}`,
    {
      hint: noMatchHint(considered, request, ctx, sha256),
      details: { request: request.text, considered: considered.map((c) => ({ file: c.entry.file, arch: c.entry.arch, why: c.why })) },
    },
  );
}
