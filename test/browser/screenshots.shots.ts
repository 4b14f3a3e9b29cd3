import { resolve } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, ok, test } from './support/fixtures';

/**
 * The README's screenshots of the web app, taken from a portfolio with some
 * history: twelve weeks of premiums, a completed fork and a reinvestment
 * waiting for approval.
 */
const OUT = resolve(__dirname, '../../docs/screenshots');
const shot = (page: Page, name: string, fullPage = false) => page.screenshot({ path: resolve(OUT, `${name}.png`), fullPage, animations: 'disabled' });

const isoDay = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);

test('screenshots of the main pages', async ({ page, api, engine }) => {
  const operator = api.client('operator');
  const p = await ok(operator.POST('/v1/portfolios', {
    body: { name: 'Family portfolio', owner: 'alex@example.com', initialCapital: '300000.00', openedAt: isoDay(84), settings: { approvals: { reinvestment: true }, forkCoolingHours: 0 } },
  }));
  const root = p.units[0]!;
  const acct = (type: string) => root.accounts.find((a) => a.type === type)!;
  const weekly = { gen: ['4200.00', '4650.00'], rev: ['2100.00', '2350.00'], com: ['900.00', '1020.00'] } as const;
  for (let week = 12; week >= 1; week--) {
    for (const [type, amounts] of Object.entries(weekly)) {
      await ok(operator.POST('/v1/accounts/{id}/activity', {
        params: { path: { id: acct(type).id }, header: { 'idempotency-key': `shots-${p.id}-${type}-${week}` } },
        body: { type: 'premium', amount: amounts[week % 2]!, occurredAt: `${isoDay(week * 7 - 1)}T15:00:00.000Z` },
      }));
    }
  }
  const started = await ok(operator.POST('/v1/accounts/{id}/fork', { params: { path: { id: acct('gen').id } }, body: {} })) as { operationId: string };
  await expect.poll(async () => (await ok(operator.GET('/v1/operations/{operationId}', { params: { path: { operationId: started.operationId } } }))).status, { timeout: 60_000 }).toBe('completed');
  await ok(operator.POST('/v1/accounts/{id}/reinvest', { params: { path: { id: acct('rev').id } }, body: {} }));
  // This week's premium takes the root Gen-Acc past the threshold again: its fork bar is full and a fork dry run is eligible.
  await ok(operator.POST('/v1/accounts/{id}/activity', {
    params: { path: { id: acct('gen').id }, header: { 'idempotency-key': `shots-${p.id}-gen-now` } },
    body: { type: 'premium', amount: '50420.00' },
  }));

  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto('/');
  await shot(page, 'sign-in');
  await page.getByLabel('API key').fill(engine.keys.operator);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('link', { name: 'Family portfolio' }).first()).toBeVisible();
  await shot(page, 'portfolios');

  await page.goto(`/#/portfolios/${p.id}`);
  await expect(page.getByRole('article', { name: 'Forked unit 1' })).toBeVisible();
  await expect(page.getByRole('region', { name: /^Tasks/ }).getByRole('button', { name: 'Approve' })).toBeVisible({ timeout: 30_000 });
  await expect(page.getByRole('region', { name: 'Growth' }).getByRole('img').first()).toBeVisible();
  await page.waitForTimeout(800); // let the charts finish their entry animation
  await shot(page, 'portfolio', true);

  await page.getByRole('button', { name: 'Record activity on the Gen-Acc of the forked unit 1' }).click();
  await page.getByRole('dialog').getByLabel('Amount ($)').fill('5200.00');
  await shot(page, 'record-activity');
  await page.keyboard.press('Escape');

  await page.getByRole('button', { name: /^Fork the Gen-Acc of the root unit/ }).click();
  await expect(page.getByRole('dialog').getByRole('heading', { name: 'Dry run' })).toBeVisible();
  await expect(page.getByRole('dialog').getByText('Eligible: this is what the real run will do.')).toBeVisible();
  await shot(page, 'fork-dry-run');
  await page.keyboard.press('Escape');

  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await expect(page.getByRole('article', { name: 'Forked unit 1' })).toBeVisible();
  await shot(page, 'phone');
});
