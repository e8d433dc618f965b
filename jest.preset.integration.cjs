// Integration suites (`test/**/*.spec.ts`, target `integration`): real containers,
// npm, the built CLI. Not cached; one file at a time.
const unit = require('./jest.preset.cjs');

/** @type {import('jest').Config} */
module.exports = {
  ...unit,
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  testTimeout: 15 * 60 * 1000,
  maxWorkers: 1,
  reporters: ['default', [require.resolve('./tools/scripts/jest-tally-reporter.cjs'), { suite: 'integration' }]],
};
