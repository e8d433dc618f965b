import nx from '@nx/eslint-plugin';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The workspace root. Each project's eslint.config.mjs spreads this config, and ESLint matches
 * `files` against paths relative to the config it loaded (libs/install/, so src/x.ts): the blocks
 * below that name workspace paths (libs/install/src/...) set basePath to the root, or they would
 * match nothing when a project is linted.
 */
const ROOT = dirname(fileURLToPath(import.meta.url));

/**
 * Module boundaries (see docs/architecture.md):
 * - apps compose libraries; libraries never import apps;
 * - `core` (CpyError, the version order) is what every library shares, and imports none of them;
 * - `artifact` is the shared base for artifacts and imports only `core`;
 * - `transfer` (downloads) imports only `core`;
 * - `signing` (OpenPGP keys, signatures) imports only `core`;
 * - `install` imports only `core`, `artifact` and `transfer` and stays light: no OpenPGP, no Sigstore,
 *   no process spawning of build tools, no GitHub client; it loads `signing` with import() only
 *   when a signer is pinned;
 * - `build` and `publish` never import each other;
 * - the test harness is for tests only.
 */
const LIGHT_INSTALL_BANS = ['openpgp', '@sigstore/*', 'execa', '@octokit/*', 'nx', '@nx/*', 'tar'];

/**
 * What an install loads validates with zod/mini (issue 20: zod's full API took ~25 ms to load),
 * and so does all the install-path commands' bundle reaches (apps/cli/scripts/bundle.mjs): one
 * use of the full API there makes zod's JSON Schema code part of the chunk every install loads.
 */
const FULL_ZOD_BAN = { name: 'zod', message: 'code an install loads uses zod/mini (see docs/architecture.md): import * as z from "zod/mini"' };
const INSTALL_PATH = [
  'libs/core/src/**/*.ts',
  'libs/install/src/**/*.ts',
  'libs/artifact/src/**/*.ts',
  'libs/transfer/src/**/*.ts',
  'libs/signing/src/**/*.ts',
  'apps/cli/src/commands/install.ts',
];

function constraints({ tests }) {
  const harness = tests ? ['type:test-harness'] : [];
  return [
    { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib', ...harness] },
    { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib', ...harness] },
    { sourceTag: 'type:test-harness', onlyDependOnLibsWithTags: ['scope:core', 'scope:artifact'] },
    { sourceTag: 'type:tooling', onlyDependOnLibsWithTags: ['type:lib', 'type:test-harness'] },
    { sourceTag: 'scope:core', onlyDependOnLibsWithTags: ['scope:core', ...harness] },
    { sourceTag: 'scope:artifact', onlyDependOnLibsWithTags: ['scope:core', 'scope:artifact', ...harness] },
    { sourceTag: 'scope:transfer', onlyDependOnLibsWithTags: ['scope:core', ...harness] },
    // Its tests read pinned-signer options with @cpy/artifact's parser, as the installers do.
    { sourceTag: 'scope:signing', onlyDependOnLibsWithTags: ['scope:core', ...(tests ? ['scope:artifact'] : []), ...harness] },
    {
      sourceTag: 'scope:install',
      onlyDependOnLibsWithTags: ['scope:core', 'scope:artifact', 'scope:transfer', 'scope:signing', ...harness],
      bannedExternalImports: LIGHT_INSTALL_BANS,
    },
    { sourceTag: 'scope:build', notDependOnLibsWithTags: ['scope:publish', 'type:app'] },
    { sourceTag: 'scope:publish', notDependOnLibsWithTags: ['scope:build', 'type:app'] },
  ];
}

const boundaries = (tests) => [
  'error',
  {
    enforceBuildableLibDependency: true,
    // install imports @cpy/artifact's light entry (index-format) statically and its main entry
    // with import() (libs/install/src/lazy.ts): the rule sees one library, loaded both ways.
    checkDynamicDependenciesExceptions: ['@cpy/artifact'],
    allow: ['^.*/eslint(\\.base)?\\.config\\.[cm]?[jt]s$'],
    depConstraints: constraints({ tests }),
  },
];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  { ignores: ['**/dist', '**/out-tsc', '**/node_modules', '**/test-output', '.cpy/**'] },
  {
    files: ['**/*.ts', '**/*.js', '**/*.mjs', '**/*.cjs'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.spec.ts', '**/__tests__/**/*.ts', '**/test/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries(true) },
  },
  {
    basePath: ROOT,
    files: INSTALL_PATH,
    ignores: ['**/*.spec.ts', '**/__tests__/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [FULL_ZOD_BAN] }] },
  },
  {
    // Also by name, so the ban holds before a banned package is even installed. For these files
    // this block's options replace the block above's (ESLint does not merge a rule's options), so
    // it repeats the zod ban; tests here get both.
    basePath: ROOT,
    files: ['libs/install/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [FULL_ZOD_BAN],
          patterns: [
            {
              group: LIGHT_INSTALL_BANS,
              message: '@cpy/install stays light: no OpenPGP, Sigstore, build tooling or GitHub client.',
            },
          ],
        },
      ],
    },
  },
  {
    // Library code never prints and never exits: only apps render.
    basePath: ROOT,
    files: ['libs/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/__tests__/**'],
    rules: {
      'no-console': 'error',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'Libraries throw CpyError; only apps exit.' },
      ],
    },
  },
];
