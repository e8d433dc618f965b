// The built bin with a reader that stops early, as shells run it: `cpy ... | head -1`, `| grep -q`.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { repoRoot } from '@cpy/harness';

const bin = join(repoRoot(), 'apps', 'cli', 'bin', 'cpy.cjs');

/** Runs cpy with its output a pipe whose reader is gone before it writes (`cpy ... | true`): its exit status and what it said on stderr. */
function closedReader(args: readonly string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

describe('cpy writing into a pipe its reader closed', () => {
  it('finishes without a stack trace, with its own exit status (it died of an unhandled EPIPE, exit 1)', async () => {
    for (const args of [['install', '--help'], ['--help', '--json'], ['list', '--help'], ['install', '--bad-flag', '--json']]) {
      const expected = args.includes('--bad-flag') ? 2 : 0;
      for (let i = 0; i < 3; i++) {
        const r = await closedReader(args);
        expect([args, r.status, r.stderr]).toEqual([args, expected, '']);
      }
    }
  });
});
