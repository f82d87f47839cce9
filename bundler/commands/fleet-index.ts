import type { Command } from '../../src/command.js';
import { fleetPromote } from './fleet-promote.js';
import { fleetServe } from './fleet-serve.js';
import { fleetStatus } from './fleet-status.js';

export const fleetCommands: Command[] = [fleetStatus, fleetPromote, fleetServe];
