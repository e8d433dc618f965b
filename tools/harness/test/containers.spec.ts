import { describe, expect, it } from '@jest/globals';
import { requireBaseImage, requireContainerEngine } from '../src/index.js';

describe('container engine and base images (built by scripts/setup-containers.sh)', () => {
  it.each([
    ['bookworm', '12.', '2.36'],
    ['bullseye', '11.', '2.31'],
  ] as const)('podman runs the minimal %s image (Debian %s*, glibc %s)', async (suite, debian, glibc) => {
    const engine = await requireContainerEngine();
    const image = await requireBaseImage(engine, suite);
    const { stdout } = await engine.cli(['run', '--rm', image, 'sh', '-c', 'cat /etc/debian_version; ldd --version | head -1']);
    const [version, ldd] = stdout.trim().split('\n');
    expect(version.startsWith(debian)).toBe(true);
    expect(ldd).toMatch(new RegExp(`${glibc.replace('.', '\\.')}$`));
  });
});
