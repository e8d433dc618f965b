export { COMMANDS, cliVersion, main } from './main.js';
export { processIO } from './io.js';
export type { CliIO } from './io.js';
