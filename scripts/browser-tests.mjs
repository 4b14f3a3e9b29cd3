#!/usr/bin/env node
// npm run test:browser: the Playwright browser tests (test/browser) on the
// system Chromium. Playwright's own browser downloads are never used: the
// browser is CHROMIUM_PATH, else `chromium` / `chromium-browser` on the PATH
// (Debian: apt-get install chromium). Without one the tests are skipped, and
// this says so, unless ALLUSE_REQUIRE_BROWSER=1 (CI sets it): then it fails.
// Extra arguments go to `playwright test` (e.g. a spec file, --debug).
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function findChromium() {
  if (process.env.CHROMIUM_PATH) {
    try {
      accessSync(process.env.CHROMIUM_PATH, constants.X_OK);
      return process.env.CHROMIUM_PATH;
    } catch {
      // Asked for explicitly: a wrong path is a mistake to fix, not a reason to skip.
      console.error(`FAILED browser tests: CHROMIUM_PATH=${process.env.CHROMIUM_PATH} is not an executable file`);
      process.exit(1);
    }
  }
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      const path = execFileSync('/bin/sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (path) return path;
    } catch {
      /* not on the PATH */
    }
  }
  return undefined;
}

const chromium = findChromium();
if (!chromium) {
  const line = 'no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)';
  if (process.env.ALLUSE_REQUIRE_BROWSER === '1') {
    console.error(`FAILED browser tests: ${line}; ALLUSE_REQUIRE_BROWSER=1 requires them`);
    process.exit(1);
  }
  console.log(`SKIPPED browser tests: ${line}`);
  process.exit(0);
}

console.log(`browser tests on ${chromium}`);
// --screenshots: take the README's screenshots (test/browser/screenshots.config.ts) instead of running the tests.
const args = process.argv.slice(2);
const config = args.includes('--screenshots') ? 'screenshots.config.ts' : 'playwright.config.ts';
const child = spawn(
  resolve(root, 'node_modules/.bin/playwright'),
  ['test', '--config', resolve(root, 'test/browser', config), ...args.filter((a) => a !== '--screenshots')],
  // PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: nothing in this run may try to fetch a browser.
  { cwd: root, stdio: 'inherit', env: { ...process.env, CHROMIUM_PATH: chromium, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' } },
);
// Ctrl-C reaches Playwright from the terminal already (a second SIGINT would make it skip its teardown,
// which stops the engine); a SIGTERM sent to this process alone is passed on.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
