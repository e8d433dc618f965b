import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CpyError, displayUrl } from '@cpy/core';
import { type ArtifactIndex, type IndexEntry } from '@cpy/artifact/index-format';
import { fetchIndex } from './acquire.js';
import { detectHost } from './host.js';
import { installerClient } from './lazy.js';
import { checkIndexAge } from './index-seen.js';
import { resolveLayout, type Environment } from './layout.js';
import { parseVersionRequest, VERSION_REQUEST_RE } from './request.js';
import { considerBuilds, defaultHostContext, type Considered, type HostContext } from './resolve.js';
import { signatureUrlOf, SignatureVerifier, signaturePolicy, type SignatureRecord } from './trust.js';

export interface AvailableOptions {
  /** `3.13`, `3.13.5`, `latest`; default: every version. */
  readonly version?: string;
  /** Default CPY_INDEX_URL. */
  readonly indexUrl?: string;
  readonly caFile?: string;
  readonly installTk?: boolean;
  readonly env?: Environment;
  readonly hostContext?: () => Promise<HostContext>;
  /** Pinned signers: the index must be signed by one of them (as for installPython). */
  readonly signerFingerprints?: string;
  readonly trustedKeysUrl?: string;
  /** The state directory (default the layout's): where signed indexes read are recorded. */
  readonly stateDir?: string | undefined;
  /** Told once when another install holds the lock on the index's record: its holder, and the record. */
  readonly onWait?: ((holder: string, record: string) => void) | undefined;
}

export interface AvailableBuild {
  readonly entry: IndexEntry;
  /** Whether it runs on this host, and why (or why not). */
  readonly fits: boolean;
  readonly why: string;
  /**
   * The build `cpy install` chooses: given a version (3.13, latest), the one build an install of
   * it takes; listing every version, for each version the build `cpy install <that version>` takes.
   */
  readonly chosen: boolean;
}

/** What the index publishes (for one version request, or all), each build with whether it fits this host. */
export async function listAvailable(options: AvailableOptions = {}): Promise<{ source: string; builds: AvailableBuild[]; warnings: string[] }> {
  const env = options.env ?? process.env;
  const indexUrl = options.indexUrl ?? env['CPY_INDEX_URL'];
  if (!indexUrl) {
    throw new CpyError('CPY_INSTALL_NO_INDEX', 'which index? Pass --index <url or file>, or set CPY_INDEX_URL', {
      hint: 'cpy publish keeps the index at https://github.com/<owner>/<repo>/releases/download/cpy-index/index.json',
    });
  }
  // No version: every final release (latest matches them all).
  const request = parseVersionRequest(options.version ?? 'latest');
  const loaded = await loadIndex(indexUrl, { env, caFile: options.caFile, signerFingerprints: options.signerFingerprints, trustedKeysUrl: options.trustedKeysUrl, stateDir: options.stateDir, onWait: options.onWait });
  const ctx = await (options.hostContext ?? (() => defaultHostContext(detectHost(), options.installTk ?? false, env)))();
  const considered = await considerBuilds(loaded.index, request, ctx);
  // The first build that fits is the one an install of the request chooses (resolveBuild);
  // listing every version, the first of each version is what an install of that version chooses.
  const key = (c: Considered) => (options.version === undefined ? c.entry.version : 'request');
  const chosenFor = new Set<string>();
  const builds = considered.map((c) => {
    const chosen = c.fits && !chosenFor.has(key(c));
    if (chosen) chosenFor.add(key(c));
    return { entry: c.entry, fits: c.fits, why: c.why, chosen };
  });
  // A version asked for by name (as each is, listing them all) whose active builds do not fit
  // installs its first deprecated build that does (resolveBuild): marked as such. (The same order:
  // considerBuilds sorts the same entries the same way.)
  if ((request.exact || options.version === undefined) && considered.some((c) => c.entry.state === 'deprecated')) {
    const again = await considerBuilds(loaded.index, request, ctx, { deprecated: true });
    again.forEach((c, i) => {
      if (c.entry.state !== 'deprecated' || !c.fits || chosenFor.has(key(c))) return;
      chosenFor.add(key(c));
      builds[i] = { entry: c.entry, fits: true, why: `${c.why}; deprecated (newer builds replace it): installed only when its version is asked for by name`, chosen: true };
    });
  }
  return { source: loaded.source, builds, warnings: loaded.warnings };
}

export const PYTHON_VERSION_FILE = '.python-version';

/**
 * The version a project asks for: the first line of the nearest `.python-version`, from `cwd`
 * upward (the pyenv and uv convention; `#` comments and blank lines skipped). Null when there is none.
 */
export async function readPythonVersionFile(cwd: string): Promise<{ version: string; file: string } | null> {
  for (let dir = cwd; ; dir = dirname(dir)) {
    const file = join(dir, PYTHON_VERSION_FILE);
    const text = await readFile(file, 'utf8').catch(() => null);
    if (text !== null) {
      const line = text.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#')) ?? '';
      if (!VERSION_REQUEST_RE.test(line)) {
        throw new CpyError('CPY_INSTALL_BAD_VERSION_FILE', `${file} asks for '${line}', which is not a CPython version cpy can install`, {
          hint: 'write a version there (3.13, 3.13.5, 3.14.0rc2), or give one: cpy install 3.13',
        });
      }
      return { version: line, file };
    }
    if (dirname(dir) === dir) return null;
  }
}

export interface LoadIndexOptions {
  readonly env?: Environment;
  readonly caFile?: string | undefined;
  /** Where the download goes; default the cache directory. */
  readonly scratch?: string;
  /** Pinned signers: the index must carry a valid signature (`index.json.asc`) by one of them. Default CPY_SIGNER_FINGERPRINTS. */
  readonly signerFingerprints?: string | undefined;
  /** Their public keys; default CPY_TRUSTED_KEYS_URL, else cpy-keys.asc beside the index. */
  readonly trustedKeysUrl?: string | undefined;
  /** Where the newest signed index read at each location is recorded (checkIndexAge); default the layout's. */
  readonly stateDir?: string | undefined;
  /** Told once when another install holds the lock on that record (checkIndexAge waits up to 30 s): its holder, and the record. */
  readonly onWait?: ((holder: string, record: string) => void) | undefined;
}

/**
 * Reads an index from a URL or a path with a client of its own; verified against the pinned
 * signers, if any. A signed index older than the one read at that location before is refused
 * (CPY_INSTALL_INDEX_ROLLED_BACK).
 */
export async function loadIndex(
  location: string,
  options: LoadIndexOptions = {},
): Promise<{ index: ArtifactIndex; source: string; signature: SignatureRecord | null; sha256: string; warnings: string[] }> {
  const env = options.env ?? process.env;
  const scratch = options.scratch ?? resolveLayout({}, env).cacheDir;
  const policy = signaturePolicy(options, env, location);
  const verifier = policy ? new SignatureVerifier(policy, { env, caFile: options.caFile, scratch }) : null;
  // What the signature's check says besides its verdict (a key that has expired since it signed).
  const warnings: string[] = [];
  const verify = verifier
    ? async (file: string, url: URL): Promise<SignatureRecord> => {
        const check = await verifier.verify(file, signatureUrlOf(url), `the index ${displayUrl(url)}`);
        warnings.push(...check.warnings);
        return { fingerprint: check.fingerprint, signedAt: check.signedAt, covers: 'index' };
      }
    : undefined;
  const client = await installerClient(env, options.caFile);
  try {
    const loaded = await fetchIndex(location, client, scratch, verify);
    if (loaded.signature) await checkIndexAge(options.stateDir ?? resolveLayout({}, env).stateDir, location, loaded.source, loaded.index.updatedAt, options.onWait);
    return { ...loaded, warnings };
  } finally {
    await client.close();
  }
}
