import { installOptionsSchema, OPTION_PATTERNS } from '@cpy/install';
import * as z from 'zod';

/** The Feature's id: the folder `src/cpython-prebuilt` and what devcontainer.json names. */
export const FEATURE_ID = 'cpython-prebuilt';

/**
 * PATH in the container: the python3, pip3... links first (/usr/local/bin, before any
 * python3 of the image), then the current install's bin through cpy's `current` link
 * (root layout, see @cpy/install resolveLayout), for the scripts pip installs there.
 * Not python3 through `current`: CPython takes sys.prefix from the path it was started
 * by, and `pip install`ed scripts would then name /var/lib/cpy/current in their #! line.
 */
export const CONTAINER_PATH = ['/usr/local/bin', '/var/lib/cpy/current/bin'] as const;
/** Where pkg-config finds the current install's python3.pc and python3-embed.pc, first. */
export const CONTAINER_PKG_CONFIG_PATH = '/var/lib/cpy/current/lib/pkgconfig';

/**
 * The install options the Feature exposes, with what differs for a Dev
 * Container. Names, types and descriptions come from @cpy/install's option
 * schema; a Feature option needs a default, and for strings an empty one means
 * "not set" (the library's own default applies).
 */
const EXPOSED = {
  version: {},
  indexUrl: {},
  artifactUrl: {},
  checksumUrl: {},
  sha256: {},
  signerFingerprints: {},
  trustedKeysUrl: {},
  installPrefix: {},
  skipValidation: {},
  // A minimal image lacks libssl, libsqlite3...: a Feature that left them out would install a python3 without ssl.
  installSystemDeps: { default: true },
  installTk: {},
} as const satisfies Record<string, { default?: string | boolean }>;

/**
 * Where install.sh keeps an install it could not do while the image was built: an artifact,
 * checksum or index under /workspaces/ (the workspace is mounted only when the container is
 * created). install.sh saves its checked options there with a copy of itself.
 */
export const DEFERRED_DIR = '/usr/local/share/cpy-feature';

/**
 * The Feature's onCreateCommand (a Feature lifecycle hook: it runs in the created container,
 * with the workspace mounted, before the user's own onCreateCommand, as the remote user).
 * Nothing deferred: one `test`, nothing else. Otherwise the saved install.sh runs the saved
 * install (through `sudo -n` when the remote user is not root) and removes what was saved.
 */
export const ON_CREATE_COMMAND = `[ ! -f ${DEFERRED_DIR}/deferred.env ] || /bin/sh ${DEFERRED_DIR}/install.sh --deferred`;

export type FeatureOptionName = keyof typeof EXPOSED;
export const FEATURE_OPTIONS = Object.keys(EXPOSED) as FeatureOptionName[];

export type FeatureOption =
  | { readonly type: 'string'; readonly default: string; readonly description: string; readonly proposals?: readonly string[] }
  | { readonly type: 'boolean'; readonly default: boolean; readonly description: string };

export interface FeatureManifest {
  readonly id: string;
  readonly version: string;
  readonly name: string;
  readonly description: string;
  readonly keywords: readonly string[];
  readonly options: Readonly<Record<FeatureOptionName, FeatureOption>>;
  readonly containerEnv: Readonly<Record<string, string>>;
  readonly onCreateCommand: string;
}

export interface ManifestOptions {
  /**
   * The default of `indexUrl`, for an organisation's copy of the Feature: its users then write
   * only `{ "version": "3.13" }`. Empty (the default): no index unless the user gives one.
   */
  readonly defaultIndexUrl?: string;
}

const propertySchema = z.object({
  type: z.enum(['string', 'boolean']),
  description: z.string().min(1),
  default: z.union([z.string(), z.boolean()]).optional(),
});

/** One exposed option, read from the install schema's JSON Schema (zod's own export, not its internals). */
function option(name: FeatureOptionName, properties: Record<string, unknown>): FeatureOption {
  const parsed = propertySchema.safeParse(properties[name]);
  if (!parsed.success) throw new Error(`@cpy/install's option ${name} is not a plain string or boolean with a description: ${parsed.error.message}`);
  const { type, description } = parsed.data;
  const override: { default?: string | boolean } = EXPOSED[name];
  const fallback = override.default ?? parsed.data.default ?? (type === 'boolean' ? false : '');
  if (typeof fallback !== (type === 'boolean' ? 'boolean' : 'string')) throw new Error(`the default of ${name} is not a ${type}`);
  return type === 'boolean' ? { type, default: fallback as boolean, description } : { type, default: fallback as string, description };
}

/** devcontainer-feature.json, generated: `node apps/feature/dist/generate.js` writes it, `--check` compares. */
export function featureManifest(version: string, settings: ManifestOptions = {}): FeatureManifest {
  const json = z.toJSONSchema(installOptionsSchema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, unknown> };
  const properties = json.properties ?? {};
  const options = Object.fromEntries(FEATURE_OPTIONS.map((name) => [name, option(name, properties)])) as Record<FeatureOptionName, FeatureOption>;
  if (settings.defaultIndexUrl) {
    // The same check install.sh and the library make: a value the sourced options file cannot expand.
    const checked = installOptionsSchema.shape.indexUrl.safeParse(settings.defaultIndexUrl);
    if (!checked.success || !(OPTION_PATTERNS.url.test(settings.defaultIndexUrl) || settings.defaultIndexUrl.startsWith('/'))) {
      throw new Error(`the default index URL '${settings.defaultIndexUrl}' must be an http(s) or file URL, or an absolute path, without spaces, quotes or shell metacharacters`);
    }
    options.indexUrl = { ...(options.indexUrl as Extract<FeatureOption, { type: 'string' }>), default: settings.defaultIndexUrl };
  }
  return {
    id: FEATURE_ID,
    version,
    name: 'CPython (prebuilt by cpy)',
    description:
      'Installs a prebuilt, verified CPython made by cpy in seconds: sha256-checked, compatibility-checked (architecture, glibc, system libraries), validated, then installed atomically and idempotently.',
    keywords: ['python', 'cpython', 'prebuilt'],
    options,
    // pkg-config's own search path holds the system's .pc files only: a distribution's python3-dev
    // answered `pkg-config python3` with its own Python.
    containerEnv: { PATH: `${CONTAINER_PATH.join(':')}:\${PATH}`, PKG_CONFIG_PATH: `${CONTAINER_PKG_CONFIG_PATH}:\${PKG_CONFIG_PATH}` },
    onCreateCommand: ON_CREATE_COMMAND,
  };
}

/** The file's text, as generated: two-space JSON and a final newline. */
export function manifestText(version: string, settings: ManifestOptions = {}): string {
  return JSON.stringify(featureManifest(version, settings), null, 2) + '\n';
}

/**
 * The scripts install.sh carries whole, each as a here-document whose delimiter names it:
 * @cpy/install's install record writer (STATE_SCRIPT) and @cpy/artifact's post-install checks
 * (POSTINSTALL_SOURCE, run from the work directory as the library runs them, never the copy an
 * artifact carries).
 */
export const CARRIED_SCRIPTS = { state: 'cpy_state_py', checks: 'cpy_checks_py' } as const;

/** install.sh with `script` as its copy between the lines of the here-document `delimiter` (one of CARRIED_SCRIPTS). */
export function withCarriedScript(installSh: string, delimiter: string, script: string): string {
  // The copy starts after the line that opens the here-document and ends before the line that
  // closes it: the newline that ends the opening line is where the search for the end starts.
  const opened = installSh.indexOf(`<<'${delimiter}'`);
  const lineEnd = opened < 0 ? -1 : installSh.indexOf('\n', opened);
  const end = lineEnd < 0 ? -1 : installSh.indexOf(`\n${delimiter}\n`, lineEnd);
  if (end < 0) throw new Error(`install.sh has no ${delimiter} lines to put the script between`);
  if (`\n${script}\n`.includes(`\n${delimiter}\n`)) throw new Error(`the script has a line ${delimiter}, which would end install.sh's here-document early`);
  return installSh.slice(0, lineEnd + 1) + script.replace(/\n$/, '') + installSh.slice(end);
}
