import type { Command } from '../../src/command.js';
import { fleetStatus } from './fleet-status.js';

export const fleetCommands: Command[] = [fleetStatus];
