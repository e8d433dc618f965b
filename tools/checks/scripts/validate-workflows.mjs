#!/usr/bin/env node
// Validates GitHub Actions workflow files with GitHub's own parser and schema
// (@actions/workflow-parser, from actions/languageservices): prints
// {"<file>": ["error", ...]} and exits 1 when any file has an error.
//
//   node tools/checks/scripts/validate-workflows.mjs .github/workflows/*.yml
import { register } from 'node:module';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

register('./json-import-hook.mjs', import.meta.url);
const { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } = await import('@actions/workflow-parser');

const report = {};
for (const file of process.argv.slice(2)) {
  const parsed = parseWorkflow({ name: basename(file), content: readFileSync(file, 'utf8') }, new NoOperationTraceWriter());
  if (parsed.value) await convertWorkflowTemplate(parsed.context, parsed.value);
  report[file] = parsed.context.errors.getErrors().map((e) => e.message);
}
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
process.exit(Object.values(report).some((errors) => errors.length > 0) ? 1 : 0);
