// The end-to-end suite (target `e2e`, never cached): one test file, one run of the whole chain.
import { createRequire } from 'node:module';
const load = createRequire(import.meta.url);
const integration = load('../../jest.preset.integration.cjs');

export default {
  ...integration,
  displayName: 'e2e',
  testTimeout: 30 * 60 * 1000,
  reporters: ['default', [load.resolve('../scripts/jest-tally-reporter.cjs'), { suite: 'e2e' }]],
};
