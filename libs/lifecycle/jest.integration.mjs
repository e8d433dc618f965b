import { createRequire } from 'node:module';
const integration = createRequire(import.meta.url)('../../jest.preset.integration.cjs');

export default { ...integration, displayName: 'lifecycle' };
