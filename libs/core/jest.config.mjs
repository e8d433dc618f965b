import { createRequire } from 'node:module';
const preset = createRequire(import.meta.url)('../../jest.preset.cjs');

export default { ...preset, displayName: 'core' };
