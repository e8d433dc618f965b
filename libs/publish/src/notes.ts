import { type ArtifactMetadata, CpyError } from '@cpy/core';
import { INDEX_RELEASE_TAG, TRUSTED_KEYS_FILE } from '@cpy/artifact';

/** The release notes cpy writes unless given another template. `{{name}}` placeholders; see NOTES_FIELDS. */
export const DEFAULT_NOTES_TEMPLATE = `## CPython {{version}} (build {{build}})

Prebuilt by cpy from the verified source release ({{sourceVerification}}).

| | |
|---|---|
| version | {{version}} |
| optimizations | {{optimizations}} |
| base system | {{baseSystem}} |
| architecture | {{arch}} |
| needs glibc | {{glibcFloor}} or newer |
| built | {{builtAt}} |

**Native modules included:** {{modules}}

{{missingModules}}

{{tests}}

### Artifacts

{{assetsTable}}

### Use it in a Dev Container

\`\`\`jsonc
{{devcontainerSnippet}}
\`\`\`

### Verify it

\`\`\`sh
{{validation}}
\`\`\`

### Changelog

{{changelog}}
`;

export interface NotesInput {
  readonly metadata: ArtifactMetadata;
  readonly tag: string;
  /** The artifact's published URL (browser_download_url). */
  readonly artifactUrl: string;
  readonly assets: readonly { name: string; sha256: string; size: number }[];
  /** Free text for the Changelog section. */
  readonly changelog?: string;
  /** The Feature reference for the snippet. Default ghcr.io/<owner>/<repo>/cpython-prebuilt:0. */
  readonly featureRef?: string;
  /** The fingerprint of the key that signed the assets (each has its `.asc`); absent when unsigned. */
  readonly signer?: string;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** The values a template can use. */
export function notesFields(input: NotesInput): Record<string, string> {
  const m = input.metadata;
  // The artifact is the asset artifactUrl downloads (not the debug-symbols or tests asset beside it).
  const artifact = input.assets.find((a) => input.artifactUrl.endsWith(`/${a.name}`));
  // The publisher's public keys, beside the index (the cpy-index release of the same repository).
  const keysUrl = input.artifactUrl.replace(/\/releases\/download\/.*$/, `/releases/download/${INDEX_RELEASE_TAG}/${TRUSTED_KEYS_FILE}`);
  return {
    version: m.version,
    build: String(m.build),
    tag: input.tag,
    profile: m.builtWith.profile,
    optimizations: m.builtWith.profile === 'release' ? 'PGO + LTO (--enable-optimizations --with-lto)' : 'none (fast profile)',
    baseSystem: `${m.platform.os} ${m.platform.osVersion} (${m.platform.libc})`,
    arch: m.platform.arch,
    glibcFloor: m.platform.glibcFloor ?? 'any',
    builtAt: m.builtWith.finishedAt,
    sourceVerification: `${m.source.fileName}, ${m.source.verification.method}${m.source.verification.openpgp ? `, signed by ${m.source.verification.openpgp.signer}` : ''}`,
    modules: m.modules.present.join(', '),
    missingModules: m.modules.missing.length ? `**Not included:** ${m.modules.missing.map((x) => `${x.id}${x.critical ? ' (critical)' : ''}`).join(', ')}` : '',
    assetsTable: ['| file | size | sha256 |', '|---|---|---|', ...input.assets.map((a) => `| ${a.name} | ${mib(a.size)} | \`${a.sha256}\` |`)].join('\n'),
    devcontainerSnippet: JSON.stringify(
      {
        features: {
          [input.featureRef ?? 'ghcr.io/<owner>/<repo>/cpython-prebuilt:0']: {
            artifactUrl: input.artifactUrl,
            // Signed: the Feature refuses it unless the signature verifies with the pinned key.
            ...(input.signer ? { signerFingerprints: input.signer, trustedKeysUrl: keysUrl } : {}),
          },
        },
      },
      null,
      2,
    ),
    validation: [
      `curl -fsSLO ${input.artifactUrl}`,
      `curl -fsSLO ${input.artifactUrl}.sha256`,
      `sha256sum -c ${artifact?.name ?? '<artifact>'}.sha256`,
      ...(input.signer && artifact
        ? [
            `curl -fsSLO ${input.artifactUrl}.asc`,
            `curl -fsSLO ${keysUrl}`,
            `cpy artifact verify ${artifact.name} --signer ${input.signer} --trusted-keys ${TRUSTED_KEYS_FILE}`,
          ]
        : []),
      `cpy artifact validate ${artifact?.name ?? '<artifact>'}`,
    ].join('\n'),
    changelog: input.changelog?.trim() || `First release of CPython ${m.version} build ${m.build}.`,
    tests: m.tests
      ? [
          `**CPython's test suite (${m.tests.level}, in a relocated prefix):** ${m.tests.passRate}% of ${m.tests.files.passed + m.tests.files.failed} test files passed; ${m.tests.files.skipped} skipped.`,
          ...(m.tests.failed.length ? [`Failed: ${m.tests.failed.join(', ')}`] : []),
          ...(m.tests.skipped.length ? [`Skipped: ${m.tests.skipped.join(', ')}`] : []),
        ].join('\n\n')
      : '',
  };
}

/** Fills `{{field}}` placeholders; an unknown one is an error naming the known ones. */
export function renderNotes(template: string, input: NotesInput): string {
  const fields = notesFields(input);
  const unknown = [...template.matchAll(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g)].map((m) => m[1]!).filter((k) => !(k in fields));
  if (unknown.length) {
    throw new CpyError('CPY_PUBLISH_BAD_TEMPLATE', `the notes template uses unknown fields: ${[...new Set(unknown)].join(', ')}`, {
      hint: `the fields are: ${Object.keys(fields).join(', ')}`,
    });
  }
  return template.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (_, k: string) => fields[k]!).replace(/\n{3,}/g, '\n\n');
}
