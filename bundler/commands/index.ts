import type { CommandRef } from '../../src/command.js';

/** Loaded on use (CommandRef). */
export const bundlerCommands: CommandRef[] = [
  { path: ['keys', 'generate'], load: async () => (await import('./keys-generate.js')).keysGenerate },
  { path: ['trust', 'init'], load: async () => (await import('./trust-init.js')).trustInit },
  { path: ['trust', 'show'], load: async () => (await import('./trust-show.js')).trustShow },
  { path: ['bundle', 'create'], load: async () => (await import('./bundle-create.js')).bundleCreate },
  { path: ['bundle', 'verify'], load: async () => (await import('./bundle-verify.js')).bundleVerify },
  { path: ['bundle', 'inspect'], load: async () => (await import('./bundle-inspect.js')).bundleInspect },
  { path: ['bundle', 'push'], load: async () => (await import('./bundle-push.js')).bundlePush },
  { path: ['bundle', 'pull'], load: async () => (await import('./bundle-pull.js')).bundlePull },
  { path: ['receipt', 'verify'], load: async () => (await import('./receipt-verify.js')).receiptVerify },
  { path: ['render'], load: async () => (await import('./render.js')).render },
];
