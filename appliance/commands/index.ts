import type { CommandRef } from '../../src/command.js';

/** Loaded on use (CommandRef). */
export const applianceCommands: CommandRef[] = [
  { path: ['appliance', 'serve'], load: async () => (await import('./serve.js')).applianceServe },
  { path: ['appliance', 'import'], load: async () => (await import('./import.js')).applianceImport },
  { path: ['appliance', 'receipt'], load: async () => (await import('./receipt.js')).applianceReceipt },
  { path: ['appliance', 'gc'], load: async () => (await import('./gc.js')).applianceGc },
];
