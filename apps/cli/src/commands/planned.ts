import { z } from 'zod';
import { defineCommand, type CommandSpec } from '../command.js';

/**
 * Commands this version declares but does not have yet. They answer --help,
 * and anything else exits 2 saying plainly that they are not available.
 */
function planned(name: string, summary: string, plannedFor: string): CommandSpec<unknown> {
  return defineCommand({
    name,
    summary,
    options: {},
    positionals: [],
    schema: z.unknown(),
    plannedFor,
  });
}

export const plannedCommands: readonly CommandSpec<unknown>[] = [
  planned('publish', 'Publish an artifact as a GitHub Release', 'publishing releases'),
  planned('releases list', 'List published releases', 'managing releases'),
  planned('releases prune', 'Delete old releases beyond the retention policy', 'managing releases'),
];
