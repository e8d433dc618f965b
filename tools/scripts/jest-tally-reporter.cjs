// Writes this Jest run's counts to <rootDir>/test-output/<suite>/results.json.
// test-output is a cached output of the test target, so a replay from the Nx
// cache restores the counts too; scripts/test.sh adds them up for its last line.
// A project whose suites run in two Jest runs (scripts/test.sh splits libs/build's
// across its two lanes) names each part with CPY_TALLY_PART: results-<part>.json.
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

class TallyReporter {
  constructor(globalConfig, options) {
    this.rootDir = globalConfig.rootDir;
    this.suite = (options && options.suite) || 'unit';
  }

  onRunComplete(_contexts, results) {
    const dir = join(this.rootDir, 'test-output', this.suite);
    mkdirSync(dir, { recursive: true });
    const tally = {
      passed: results.numPassedTests,
      failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
      skipped: results.numPendingTests + results.numTodoTests,
      suites: results.numTotalTestSuites,
    };
    const part = process.env.CPY_TALLY_PART;
    if (part !== undefined && !/^[a-z0-9-]+$/.test(part)) throw new Error(`CPY_TALLY_PART must be lower-case letters, digits and -: ${part}`);
    writeFileSync(join(dir, part ? `results-${part}.json` : 'results.json'), JSON.stringify(tally) + '\n');
  }
}

module.exports = TallyReporter;
