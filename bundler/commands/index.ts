import type { Command } from '../../src/command.js';
import { bundleCreate } from './bundle-create.js';
import { bundleInspect } from './bundle-inspect.js';
import { bundlePull } from './bundle-pull.js';
import { bundlePush } from './bundle-push.js';
import { bundleVerify } from './bundle-verify.js';
import { keysGenerate } from './keys-generate.js';
import { receiptVerify } from './receipt-verify.js';
import { render } from './render.js';
import { trustInit } from './trust-init.js';
import { trustShow } from './trust-show.js';

export const bundlerCommands: Command[] = [keysGenerate, trustInit, trustShow, bundleCreate, bundleVerify, bundleInspect, bundlePush, bundlePull, receiptVerify, render];
