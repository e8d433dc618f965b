// Adds up the Jest counts every project wrote (tools/scripts/jest-tally-reporter.cjs)
// and prints one closing line: "tests: N passed, N failed, N skipped".
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const total = { passed: 0, failed: 0, skipped: 0 };
const rows = [];
for (const group of ['libs', 'apps', 'tools']) {
  for (const project of readdirSync(join(root, group))) {
    for (const suite of ['unit', 'integration', 'e2e']) {
      const dir = join(root, group, project, 'test-output', suite);
      if (!existsSync(dir)) continue;
      // results.json, or one results-<part>.json per Jest run of a project split in parts.
      for (const file of readdirSync(dir).sort()) {
        const named = /^results(?:-([a-z0-9-]+))?\.json$/.exec(file);
        if (!named) continue;
        const t = JSON.parse(readFileSync(join(dir, file), 'utf8'));
        rows.push(`  ${`${group}/${project}`.padEnd(20)} ${[suite, named[1]].filter(Boolean).join(' ').padEnd(22)} ${t.passed} passed, ${t.failed} failed`);
        for (const k of Object.keys(total)) total[k] += t[k];
      }
    }
  }
}
console.log(rows.join('\n'));
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exitCode = total.failed > 0 || total.passed === 0 ? 1 : 0;
