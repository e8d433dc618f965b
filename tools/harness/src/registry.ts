import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OciRegistry {
  /** `localhost:<port>`: the Dev Containers CLI speaks plain HTTP only to a host named exactly localhost. */
  readonly host: string;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Debian's docker-registry (the CNCF distribution registry) on loopback, storing
 * in a temporary folder; scripts/setup-containers.sh installs it.
 */
export async function startOciRegistry(): Promise<OciRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'cpy-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  await writeFile(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => child.once('error', (e) => reject(new Error(`cannot start docker-registry (run scripts/setup-containers.sh): ${e.message}`))));
  const ready = (async () => {
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false);
      if (ok) return;
      if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr.trim()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`docker-registry did not answer on 127.0.0.1:${port}: ${stderr.trim()}`);
  })();
  await Promise.race([ready, failed]);
  return {
    host: `localhost:${port}`,
    close: async () => {
      child.kill();
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
