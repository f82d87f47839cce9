import type { CommandRef } from '../../src/command.js';

/** Loaded on use (CommandRef). */
export const fleetCommands: CommandRef[] = [
  { path: ['fleet', 'status'], load: async () => (await import('./fleet-status.js')).fleetStatus },
  { path: ['fleet', 'promote'], load: async () => (await import('./fleet-promote.js')).fleetPromote },
  { path: ['fleet', 'serve'], load: async () => (await import('./fleet-serve.js')).fleetServe },
];
