import type { Command } from '../../src/command.js';
import { applianceGc } from './gc.js';
import { applianceImport } from './import.js';
import { applianceReceipt } from './receipt.js';
import { applianceServe } from './serve.js';

export const applianceCommands: Command[] = [applianceServe, applianceImport, applianceReceipt, applianceGc];
