import { isAbsolute } from 'node:path';
import { SHA256_ANY_CASE_RE } from '@cpy/core';
import { SAFE_URL_RE, SIGNERS_OPTION_RE, URL_RULE_MESSAGE, urlReadAlike } from '@cpy/artifact/index-format';
import * as z from 'zod/mini';
import { versionRequestSchema } from './request.js';

/**
 * The characters an option value may hold. Strict on purpose: the Dev Container
 * CLI writes option values unescaped into a file that `sh` sources, so the
 * Feature's install.sh refuses spaces, quotes, `$`, backticks, backslashes and
 * the other shell metacharacters, and the library refuses the same values so
 * that the two behave alike (apps/feature/test/conformance.spec.ts).
 */
export const OPTION_PATTERNS = {
  url: SAFE_URL_RE,
  path: /^[A-Za-z0-9._/+@-]+$/,
} as const;

const noDotDot = (p: string) => !p.split('/').includes('..');
const absolutePath = z
  .string()
  .check(
    z.regex(OPTION_PATTERNS.path, 'must be a path of letters, digits and . _ / + @ - only'),
    z.refine(noDotDot, 'must not go up a directory with ..'),
    z.refine((p) => isAbsolute(p), 'must be an absolute path, from /'),
  );
const location = z
  .string()
  .check(
    z.minLength(1),
    z.refine(
      (s) => OPTION_PATTERNS.url.test(s) || (OPTION_PATTERNS.path.test(s) && !s.includes('://')),
      'must be an http(s) or file URL, or a path, without spaces, quotes or shell metacharacters',
    ),
    z.refine((s) => !OPTION_PATTERNS.url.test(s) || urlReadAlike(s), URL_RULE_MESSAGE),
  );

/** `schema`, with the description devcontainer-feature.json and --help show for it. */
function described<T extends z.ZodMiniType>(schema: T, description: string): T {
  z.globalRegistry.add(schema, { description });
  return schema;
}

/**
 * What `installPython` accepts: validated at the boundary, shared with the
 * Dev Container Feature (whose devcontainer-feature.json is generated from
 * these names, types and descriptions) and the CLI, so the three agree.
 */
export const installOptionsSchema = z.strictObject({
  version: described(
    z.optional(versionRequestSchema),
    'The CPython version: 3.13.5, a release line (3.13, 3: its newest final release), latest, or a pre-release by name (3.14.0rc2). Resolved with the index to the build that fits this host. Empty: the version in the artifact file name.',
  ),
  indexUrl: described(
    z.optional(location),
    'The cpy index to resolve the version with (cpy publish keeps it at https://github.com/<owner>/<repo>/releases/download/cpy-index/index.json): an https://, http:// or file:// URL, or an absolute path. Empty: CPY_INDEX_URL.',
  ),
  artifactUrl: described(
    z.optional(location),
    'The artifact made by cpy build: an https://, http:// or file:// URL, or an absolute path (cpython-<version>-<os><osversion>-build<N>.tgz). Overrides the index.',
  ),
  checksumUrl: described(z.optional(location), 'Its sha256sum line. Empty: <artifactUrl>.sha256.'),
  sha256: described(
    z.optional(z.string().check(z.regex(SHA256_ANY_CASE_RE, 'must be 64 hex digits'), z.toLowerCase())),
    'The expected sha256 of the artifact; when set, no checksum file is read. With indexUrl instead, it pins the build: the one the index lists with this sha256.',
  ),
  signerFingerprints: described(
    z.optional(z.string().check(z.regex(SIGNERS_OPTION_RE, 'must be 40-hex key fingerprints separated by commas, without spaces'))),
    'Pinned signers: the fingerprints (40 hex digits, comma-separated) of the keys allowed to sign the index and artifacts. When set, a missing, bad or foreign signature refuses the install before anything is extracted. Empty: CPY_SIGNER_FINGERPRINTS; no signature is checked when neither is set.',
  ),
  trustedKeysUrl: described(
    z.optional(location),
    "The signers' public keys (ASCII-armored; only those whose fingerprint is pinned are used): an https://, http:// or file:// URL, or an absolute path. Empty: CPY_TRUSTED_KEYS_URL, else cpy-keys.asc beside the index.",
  ),
  installPrefix: described(
    z.optional(absolutePath),
    'Where to install. Empty: /opt/python-<version> as root. Elsewhere the artifact is relocated (sysconfig, pkg-config, python3-config, scripts).',
  ),
  stateDir: described(z.optional(absolutePath), 'Where cpy records installs and the current version.'),
  binDir: described(z.optional(z.nullable(absolutePath)), 'Where python3, python, pip3, pip... are linked; null: no link made or changed (then the install is made current only when no cpy link runs the current version). Unset: where the last install or use linked them (state.json records it), else the default.'),
  cacheDir: described(z.optional(absolutePath), 'Where downloaded artifacts are kept by sha256.'),
  activate: described(z._default(z.boolean(), true), 'Make this the version python3 runs.'),
  skipValidation: described(
    z._default(z.boolean(), false),
    'Do not check the installed python3 (version, critical modules, sysconfig, a venv through a link, a C extension); it still has to start, since it writes the install record. Not recommended.',
  ),
  installSystemDeps: described(
    z._default(z.boolean(), false),
    'Install the system libraries the artifact needs and this system lacks (libssl, libsqlite3, libreadline, and the small curses and gdbm libraries) with apt-get, dnf or apk (needs root). Tk is left to installTk.',
  ),
  installTk: described(z._default(z.boolean(), false), "Also install tkinter's libraries (Tcl/Tk; they pull X11 into the image). Without it tkinter's are only reported."),
  caFile: described(z.optional(absolutePath), 'Extra CA certificates (PEM) for https downloads.'),
  lockTimeoutMs: described(z._default(z.int().check(z.positive()), 600_000), 'How long to wait for another install of the same prefix.'),
});

export type InstallOptions = z.input<typeof installOptionsSchema>;
export type ResolvedInstallOptions = z.output<typeof installOptionsSchema>;
