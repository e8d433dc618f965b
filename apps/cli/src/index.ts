export { cliVersion, loadCommands, main } from './main.js';
export { COMMAND_TABLE } from './commands/table.js';
export type { CommandEntry } from './commands/table.js';
export { processIO } from './io.js';
export type { CliIO } from './io.js';
