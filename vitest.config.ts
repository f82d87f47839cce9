import { execFileSync } from 'node:child_process';
import { defineConfig } from 'vitest/config';

/**
 * helm and kubectl from test/setup/kube-tools.sh (cached; fetched once) go first on the tests' PATH, whether the
 * suite runs through `npm test` or a single file through `npx vitest run FILE`.
 */
function toolsPath(): string {
  const dir = execFileSync('bash', ['test/setup/kube-tools.sh'], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  return `${dir}:${process.env.PATH ?? ''}`;
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { PATH: toolsPath() },
    reporters: ['default', './test/setup/summary-reporter.ts'],
  },
});
