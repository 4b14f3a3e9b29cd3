/**
 * Fixtures for every browser spec (reuse them: `import { test, expect } from './support/fixtures'`):
 * - `engine`: the real engine the global setup started ({ url, keys: { viewer, operator, admin } });
 * - `api`: HTTP calls to it, to set data up or check it: typed, `await ok(api.client('operator').POST('/v1/portfolios', { body }))`
 *   (the engine's own client, src/client), or raw, `api.call('POST', '/v1/portfolios', { role: 'operator', body })`;
 * - `baseURL` is the engine's, so `page.goto('/docs')` works;
 * - `pageGuard` (automatic): fails the test if the page reported a Content-Security-Policy
 *   violation, threw an uncaught error, or sent a request to any origin but the engine's.
 */
import { test as base, expect } from '@playwright/test';
import { type AlluseClient, createAlluseClient } from '../../../src/client';
import { type EngineInfo, engineFromEnv, type Role } from './engine';

export { expect };
export { ok } from '../../../src/client';

export interface EngineApi {
  /** The typed client with one of the engine's keys. */
  client(role: Role): AlluseClient;
  /** `role` picks one of the engine's keys (default admin); `key` sends that exact key instead (null: none). */
  call<T = unknown>(method: string, path: string, opts?: { role?: Role; key?: string | null; body?: unknown }): Promise<{ status: number; body: T }>;
}

export interface PageGuard {
  cspViolations: string[];
  offOriginRequests: string[];
  pageErrors: string[];
}

/** Runs in every page before its own scripts: reports each CSP violation to the test (exposeBinding below). */
const CSP_LISTENER = `document.addEventListener('securitypolicyviolation', function (e) {
  window.__alluseCspViolation(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});`;

export const test = base.extend<{ api: EngineApi; pageGuard: PageGuard }, { engine: EngineInfo }>({
  // eslint-disable-next-line no-empty-pattern -- Playwright reads a fixture's dependencies from this pattern
  engine: [async ({}, use) => use(engineFromEnv()), { scope: 'worker' }],
  baseURL: async ({ engine }, use) => use(engine.url),
  api: async ({ engine }, use) => {
    await use({
      client: (role) => createAlluseClient({ baseUrl: engine.url, apiKey: engine.keys[role], userAgent: 'alluse-browser-tests' }),
      call: async (method, path, opts = {}) => {
        const key = opts.key === undefined ? engine.keys[opts.role ?? 'admin'] : opts.key;
        const headers: Record<string, string> = {};
        if (key) headers.authorization = `Bearer ${key}`;
        if (opts.body !== undefined) headers['content-type'] = 'application/json';
        const res = await fetch(`${engine.url}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
        const text = await res.text();
        return { status: res.status, body: (text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as never };
      },
    });
  },
  pageGuard: [
    async ({ page, engine }, use) => {
      const guard: PageGuard = { cspViolations: [], offOriginRequests: [], pageErrors: [] };
      const origin = new URL(engine.url).origin;
      page.on('request', (req) => {
        const url = req.url();
        if (/^(data|blob):/.test(url)) return;
        if (new URL(url).origin !== origin) guard.offOriginRequests.push(`${req.method()} ${url}`);
      });
      // Chromium also logs each violation on the console ("Refused to ... because it violates ... Content Security Policy").
      page.on('console', (msg) => {
        if (/Content Security Policy/i.test(msg.text())) guard.cspViolations.push(msg.text());
      });
      page.on('pageerror', (err) => guard.pageErrors.push(String(err)));
      await page.exposeBinding('__alluseCspViolation', (_source, what: string) => guard.cspViolations.push(what));
      await page.addInitScript(CSP_LISTENER);
      await use(guard);
      expect(guard.cspViolations, 'Content-Security-Policy violations').toEqual([]);
      expect(guard.offOriginRequests, 'requests that left the origin').toEqual([]);
      expect(guard.pageErrors, 'uncaught errors in the page').toEqual([]);
    },
    { auto: true },
  ],
});
