import type { Command } from '../../src/command.js';
import { bundleCreate } from './bundle-create.js';
import { bundleInspect } from './bundle-inspect.js';
import { bundleVerify } from './bundle-verify.js';
import { keysGenerate } from './keys-generate.js';
import { receiptVerify } from './receipt-verify.js';
import { trustInit } from './trust-init.js';

export const bundlerCommands: Command[] = [keysGenerate, trustInit, bundleCreate, bundleVerify, bundleInspect, receiptVerify];
