/**
 * Browser tests: Playwright's test runner driving the system Chromium (the
 * Debian `chromium` package; Playwright's own browser downloads are not used).
 * Run them with `npm run test:browser` (scripts/browser-tests.mjs finds
 * Chromium, or says it skipped them); the global setup starts one real engine.
 */
import { execSync } from 'node:child_process';
import { resolve } from 'node:path';
import { defineConfig } from '@playwright/test';

/** CHROMIUM_PATH (the runner script sets it), else chromium / chromium-browser on the PATH. */
function chromium(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    return execSync('command -v chromium || command -v chromium-browser', { encoding: 'utf8', shell: '/bin/sh' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export default defineConfig({
  testDir: '.',
  testMatch: '**/*.spec.ts',
  globalSetup: './support/global-setup.ts',
  outputDir: resolve(__dirname, '../../test-results/browser'),
  // One engine, one browser: the specs share its data, and the machine may have two cores.
  workers: 1,
  fullyParallel: false,
  // Always: a stray test.only must fail the run, not silently skip the other tests (our CI does not set CI).
  forbidOnly: true,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    // We run as root in CI containers, where Chromium's sandbox cannot start.
    launchOptions: { executablePath: chromium(), args: ['--no-sandbox'] },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    // No service workers: every request the page makes goes through page.on('request') for the origin check.
    serviceWorkers: 'block',
  },
});
