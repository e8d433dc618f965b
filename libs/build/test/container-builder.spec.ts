// The container builder as a whole process uses it: what is left when cpy exits at once.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { requireBaseImage, requireContainerEngine } from '@cpy/harness';

const run = promisify(execFile);
/** The built library (scripts/test.sh builds before the integration suites), as cpy's bin loads it. */
const BUILDERS = new URL('../dist/compile/builders.js', import.meta.url).href;

describe('the container builder', () => {
  it('a cpy that exits at once (a second Ctrl-C: process.exit) removes its build container; it was left running sleep infinity', async () => {
    const engine = await requireContainerEngine();
    const image = await requireBaseImage(engine, 'bookworm');
    const dir = await mkdtemp(join(tmpdir(), 'cpy-container-builder-'));
    try {
      const script = `
import { containerBuilder } from ${JSON.stringify(BUILDERS)};
const builder = containerBuilder({ kind: 'container', image: ${JSON.stringify(image)}, engine: ${JSON.stringify(engine.name)}, provision: false, provisionExclude: [] });
await builder.start(${JSON.stringify(dir)}, ${JSON.stringify(join(dir, 'provision.log'))});
console.log((await builder.exec('hostname', [])).stdout.trim());
process.exit(130);
`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      const code = await new Promise<number | null>((done) => child.on('close', done));
      expect(code).toBe(130);
      const container = stdout.trim();
      expect(container).toMatch(/^[0-9a-f]{12}$/);
      expect((await run(engine.name, ['ps', '-a', '-q', '--filter', `id=${container}`])).stdout.trim()).toBe('');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
