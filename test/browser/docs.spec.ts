import type { Locator, Page } from '@playwright/test';
import { expect, ok, test } from './support/fixtures';

/**
 * /docs: Swagger UI from this origin under a strict CSP. A reader authorizes
 * with a key and tries requests; the automatic page guard (support/fixtures.ts)
 * fails the test on any CSP violation, page error or request leaving the origin.
 */

/** Opens Swagger UI's Authorize dialog, replaces the bearer key with `key`, and closes it. */
async function authorize(page: Page, key: string): Promise<void> {
  await page.locator('.auth-wrapper .authorize').click();
  const dialog = page.locator('.dialog-ux .modal-ux');
  await expect(dialog).toBeVisible();
  const logout = dialog.getByRole('button', { name: 'Remove authorization' });
  if (await logout.isVisible()) await logout.click();
  await dialog.locator('#auth-bearer-value').fill(key);
  await dialog.getByRole('button', { name: 'Apply credentials' }).click();
  await expect(dialog.getByText('Authorized')).toBeVisible();
  await dialog.locator('.btn-done').click();
  await expect(dialog).toBeHidden();
}

/** Expands an operation (by its tag and operationId), executes it, and returns its live response panel. */
async function execute(page: Page, tag: string, operationId: string): Promise<Locator> {
  const op = page.locator(`#operations-${tag}-${operationId}`);
  if (!(await op.locator('.opblock-body').isVisible())) await op.locator('.opblock-summary-control').click();
  await op.locator('button.execute').click();
  const live = op.locator('.live-responses-table .response').first();
  await expect(live).toBeVisible();
  return live;
}

test('/docs serves Swagger UI under a strict CSP, and tries requests with a pasted key', async ({ page, engine, api }) => {
  const created = await ok(api.client('operator').POST('/v1/portfolios', {
    body: { name: 'Docs page portfolio', owner: 'docs@example.com', initialCapital: '300000.00', template: 'moderate' },
  }));

  const res = await page.goto('/docs');
  expect(res?.status()).toBe(200);
  const csp = res!.headers()['content-security-policy'];
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).not.toContain('unsafe-inline');
  await expect(page.locator('.swagger-ui .info .title')).toContainText('ALL-USE Engine API');
  await expect(page.getByText('it is never stored')).toBeVisible();

  // A viewer key: listing portfolios answers 200 with the JSON body.
  await authorize(page, engine.keys.viewer);
  let live = await execute(page, 'Portfolios', 'listPortfolios');
  await expect(live.locator('.response-col_status')).toHaveText('200');
  await expect(live.locator('.response-col_description')).toContainText('Docs page portfolio');
  await expect(live.locator('.response-col_description')).toContainText(created.id);

  // The viewer may not create a portfolio: 403 and its problem document.
  live = await execute(page, 'Portfolios', 'createPortfolio');
  await expect(live.locator('.response-col_status')).toHaveText(/403/);
  await expect(live.locator('.response-col_description')).toContainText('"status": 403');

  // A wrong key: 401 and its problem document.
  await authorize(page, 'alluse_not-a-real-key-0000000000000000');
  live = await execute(page, 'Portfolios', 'listPortfolios');
  await expect(live.locator('.response-col_status')).toHaveText(/401/);
  await expect(live.locator('.response-col_description')).toContainText('"status": 401');
  await expect(live.locator('.response-col_description')).toContainText('application/problem+json');
});

test('the docs assets are cached for a year, the schemas render, and the key is never stored', async ({ page, engine }) => {
  const assets: { url: string; cacheControl?: string }[] = [];
  page.on('response', (r) => {
    if (r.url().includes('/docs/assets/')) assets.push({ url: r.url(), cacheControl: r.headers()['cache-control'] });
  });
  await page.goto('/docs');
  await expect(page.locator('.swagger-ui .info .title')).toContainText('ALL-USE Engine API');
  expect(assets.map((a) => new URL(a.url).pathname.replace(/-[0-9a-f]{12}\./, '-<hash>.'))).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^\/docs\/assets\/swagger-ui-[\d.]+\/swagger-ui-bundle\.js$/),
      expect.stringMatching(/^\/docs\/assets\/swagger-ui-[\d.]+\/swagger-ui\.css$/),
      '/docs/assets/docs-<hash>.js',
      '/docs/assets/docs-<hash>.css',
    ]),
  );
  for (const a of assets) expect(a.cacheControl, a.url).toMatch(/max-age=31536000.*immutable/);

  // The schemas render too (Swagger UI's JSON Schema 2020-12 view, under the same CSP).
  const model = page.locator('.models article').filter({ has: page.getByText('Portfolio', { exact: true }) }).first();
  await model.getByRole('button', { name: 'Portfolio', exact: true }).click();
  await expect(model).toContainText('initialCapital');

  await authorize(page, engine.keys.viewer);
  const stored = await page.evaluate('JSON.stringify([Object.keys(localStorage), Object.keys(sessionStorage), document.cookie])');
  expect(String(stored)).not.toContain(engine.keys.viewer);
  expect(stored).toBe('[[],[],""]');
});
