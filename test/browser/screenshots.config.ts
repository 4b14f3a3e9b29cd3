/**
 * `npm run docs:screenshots`: the same engine and browser as the browser
 * tests, running only docs/screenshots.shots.ts, which writes the README's
 * screenshots to docs/screenshots/. Not part of `npm test`.
 */
import { defineConfig } from '@playwright/test';
import base from './playwright.config';

export default defineConfig({ ...base, testMatch: '**/*.shots.ts', timeout: 180_000 });
