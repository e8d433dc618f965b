// Shared Jest settings: every project runs its tests as native ES modules
// (the repository is ESM end to end; execa and friends are ESM-only), with
// TypeScript stripped by SWC. Workspace packages resolve to their sources
// through the "@cpy/source" export condition, so tests never need a build.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        swcrc: false,
        jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
        module: { type: 'es6' },
        sourceMaps: 'inline',
      },
    ],
  },
  // Source files import siblings as './x.js' (NodeNext); map them back to .ts.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testEnvironmentOptions: {
    customExportConditions: ['@cpy/source', 'node', 'node-addons'],
    // Jest 30 "soft deletes" what a test file left on the global scope by wrapping each property in
    // a setter that calls itself: code still running after a test timed out that writes one dies
    // with "Maximum call stack size exceeded", failing the next file in that worker instead of
    // only the timed-out one (tools/checks/test/jest-preset.spec.ts). Jest 29 did no such cleanup.
    globalsCleanup: 'off',
  },
  clearMocks: true,
  reporters: ['default', [require.resolve('./tools/scripts/jest-tally-reporter.cjs'), { suite: 'unit' }]],
};

