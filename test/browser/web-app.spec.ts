import type { Page } from '@playwright/test';
import Decimal from 'decimal.js';
import type { Schemas } from '../../src/client';
import { expect, ok, test } from './support/fixtures';

/**
 * The web app at GET /, in Chromium against the real engine (PostgreSQL,
 * Temporal, the worker): the scenarios a practitioner runs, through the page
 * only, checked against what the page shows and (where it matters) the API.
 * The automatic page guard fails any test on a CSP violation, an uncaught
 * page error or a request leaving the origin.
 */

async function signIn(page: Page, key: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
}

const unique = (name: string) => `${name} ${Date.now().toString(36)}`;

test('an operator creates a portfolio, records a premium past the fork threshold, dry-runs and runs the fork and watches it complete', async ({ page, api, engine }) => {
  await signIn(page, engine.keys.operator);
  await expect(page.getByRole('heading', { name: 'Portfolios', level: 1 })).toBeVisible();

  // Create a portfolio from the page.
  const name = unique('Browser fork portfolio');
  await page.getByRole('button', { name: 'New portfolio' }).click();
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Owner').fill('browser@example.com');
  await page.getByLabel('Initial capital ($)').fill('250,000');
  await page.getByRole('button', { name: 'Create portfolio' }).click();
  await expect(page.getByRole('heading', { name, level: 1 })).toBeVisible();
  await expect(page.getByTestId('portfolio-total')).toHaveText('$250,000.00');
  const id = /#\/portfolios\/([0-9a-f-]{36})$/.exec(page.url())![1]!;

  // Before: the root unit's fork bar is at 0%.
  const forkBar = page.getByRole('progressbar', { name: 'Fork progress of the root unit' });
  await expect(forkBar).toHaveAttribute('aria-valuenow', '0');

  // Record a premium of 50,001.01 on the Gen-Acc: the bar passes the threshold.
  await page.getByRole('button', { name: 'Record activity on the Gen-Acc of the root unit' }).click();
  const activity = page.getByRole('dialog', { name: /Record activity/ });
  await activity.getByLabel('Type').selectOption('premium');
  await activity.getByLabel('Amount ($)').fill('50001.01');
  await activity.getByRole('button', { name: 'Record', exact: true }).click();
  await expect(activity.getByRole('status')).toContainText('Recorded.');
  await activity.getByRole('button', { name: 'Close' }).first().click();
  await expect(activity).toBeHidden();
  await expect(forkBar).toHaveAttribute('aria-valuenow', '100');
  await expect(forkBar).toHaveAttribute('aria-valuetext', /\$50,001\.01 of \$50,000\.00: 100\.0%, threshold reached/);
  await expect(page.getByTestId('portfolio-total')).toHaveText('$300,001.01');

  // A refused activity shows the API's problem document: a Com-Acc allows no withdrawal.
  const com = (await ok(api.client('viewer').GET('/v1/portfolios/{id}', { params: { path: { id } } }))).units[0]!.accounts.find((a) => a.type === 'com')!;
  const refusal = await api.client('operator').POST('/v1/accounts/{id}/activity', {
    params: { path: { id: com.id }, header: { 'idempotency-key': `browser-refused-${id}` } },
    body: { type: 'withdrawal', amount: '10.00' },
  });
  expect(refusal.response.status).toBe(422);
  const refusalDetail = (refusal.error as { detail: string }).detail;
  await page.getByRole('button', { name: 'Record activity on the Com-Acc of the root unit' }).click();
  const refused = page.getByRole('dialog', { name: /Record activity/ });
  await refused.getByLabel('Type').selectOption('withdrawal');
  await refused.getByLabel('Amount ($)').fill('10.00');
  await refused.getByRole('button', { name: 'Record', exact: true }).click();
  await expect(refused.getByRole('alert')).toContainText(refusalDetail.slice(1));
  await page.keyboard.press('Escape');
  await expect(refused).toBeHidden();
  await expect(page.getByTestId('portfolio-total')).toHaveText('$300,001.01');

  // The fork: its dry run first, with the plan; then the real run, followed to completion.
  await page.getByRole('button', { name: /^Fork the Gen-Acc of the root unit/ }).click();
  const fork = page.getByRole('dialog', { name: /^Fork/ });
  await expect(fork.getByText('Eligible: this is what the real run will do.')).toBeVisible();
  await expect(fork.locator('dl.plan')).toContainText('Fork amount');
  await expect(fork.locator('dl.plan')).toContainText('$50,001.01');
  await fork.getByRole('button', { name: 'Fork now' }).click();
  await expect(fork.getByRole('heading', { name: /Fork completed/ })).toBeVisible({ timeout: 45_000 });
  await expect(fork.locator('ol.steps li').first()).toBeVisible();
  await fork.getByRole('button', { name: 'Close' }).last().click();

  // The tree now has the forked unit with its merge bar, and the operations list the completed fork with its Temporal UI link.
  await expect(page.getByRole('article', { name: 'Forked unit 1' })).toBeVisible();
  await expect(page.getByRole('progressbar', { name: 'Merge progress of the forked unit 1' })).toBeVisible();
  const op = page.locator('#operations li.operation').filter({ hasText: 'Fork' }).first();
  await expect(op).toContainText('completed');
  // A finished operation is collapsed to its summary line; opening it shows its steps and the link.
  await op.locator('summary').click();
  await expect(op.getByRole('listitem').first()).toBeVisible();
  await expect(op.getByRole('link', { name: 'Open in the Temporal UI' })).toHaveAttribute('href', /\/namespaces\/[^/]+\/workflows\/[^/]+$/);

  // The page told the truth: the API agrees on the units and the total.
  const after = await ok(api.client('viewer').GET('/v1/portfolios/{id}', { params: { path: { id } } }));
  expect(after.units.filter((u) => u.kind === 'forked')).toHaveLength(1);
  expect(after.totals.balance).toBe('300001.01');
});

test('an operator approves a fork that waits for approval, from the task list', async ({ page, api, engine }) => {
  const operator = api.client('operator');
  const p = await ok(operator.POST('/v1/portfolios', {
    body: { name: unique('Browser approval portfolio'), owner: 'browser@example.com', initialCapital: '200000.00', settings: { approvals: { fork: true } } },
  }));
  const gen = p.units[0]!.accounts.find((a) => a.type === 'gen')!;
  await ok(operator.POST('/v1/accounts/{id}/activity', {
    params: { path: { id: gen.id }, header: { 'idempotency-key': `browser-approval-${p.id}` } },
    body: { type: 'premium', amount: '60000.00' },
  }));

  await signIn(page, engine.keys.operator);
  await page.goto(`/#/portfolios/${p.id}`);
  await expect(page.getByRole('heading', { name: p.name, level: 1 })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Tasks' })).toContainText('Nothing is waiting for you.');

  await page.getByRole('button', { name: /^Fork the Gen-Acc of the root unit/ }).click();
  const fork = page.getByRole('dialog', { name: /^Fork/ });
  await fork.getByRole('button', { name: 'Fork now' }).click();
  await expect(fork.getByRole('heading', { name: /Fork waiting/ })).toBeVisible({ timeout: 30_000 });
  await expect(fork).toContainText('It is waiting for a person');
  await fork.getByRole('button', { name: 'Close' }).last().click();

  // The approval task appears without a reload; approving it lets the fork complete.
  const tasks = page.getByRole('region', { name: /^Tasks/ });
  const task = tasks.getByRole('listitem').filter({ has: page.getByRole('button', { name: 'Approve' }) });
  await expect(task).toBeVisible({ timeout: 20_000 });
  await task.getByRole('button', { name: 'Approve' }).click();
  await expect(tasks).toContainText('Nothing is waiting for you.', { timeout: 20_000 });
  await expect(page.locator('#operations li.operation').filter({ hasText: 'Fork' }).first()).toContainText('completed', { timeout: 45_000 });
  await expect(page.getByRole('article', { name: 'Forked unit 1' })).toBeVisible();

  // A second fork right away is not eligible: the dialog lists the API's reasons and offers no "Fork now".
  const dry = await ok(operator.POST('/v1/accounts/{id}/fork', { params: { path: { id: gen.id } }, body: { dryRun: true } })) as { eligible: boolean; reasons: string[] };
  expect(dry.eligible).toBe(false);
  await page.getByRole('button', { name: /^Fork the Gen-Acc of the root unit/ }).click();
  const again = page.getByRole('dialog', { name: /^Fork/ });
  await expect(again.getByText('Not eligible now:')).toBeVisible();
  for (const reason of dry.reasons) await expect(again.locator('ul.reasons')).toContainText(reason);
  await expect(again.getByRole('button', { name: 'Fork now' })).toBeDisabled();
  await page.keyboard.press('Escape');

  const decided = await ok(api.client('viewer').GET('/v1/tasks', { params: { query: { portfolioId: p.id } } }));
  expect(decided.items.map((t) => [t.kind, t.status, t.decision])).toEqual([['approval', 'done', 'approve']]);
});

test('the growth chart and its numbers show the ledger', async ({ page, api, engine }) => {
  const operator = api.client('operator');
  const p = await ok(operator.POST('/v1/portfolios', {
    body: { name: unique('Browser growth portfolio'), owner: 'browser@example.com', initialCapital: '100000.00' },
  }));
  const rev = p.units[0]!.accounts.find((a) => a.type === 'rev')!;
  await ok(operator.POST('/v1/accounts/{id}/activity', {
    params: { path: { id: rev.id }, header: { 'idempotency-key': `browser-growth-${p.id}` } },
    body: { type: 'premium', amount: '1234.56' },
  }));

  await signIn(page, engine.keys.viewer);
  await page.goto(`/#/portfolios/${p.id}`);
  const growth = page.getByRole('region', { name: 'Growth' });
  await expect(growth.getByRole('heading', { name: 'Balance' })).toBeVisible();
  await expect(growth.getByRole('img').first()).toBeVisible();
  await growth.getByText('Show the numbers').first().click();
  const table = growth.getByRole('table').first();
  await expect(table).toContainText('$101,234.56');
  const report = (await ok(api.client('viewer').GET('/v1/portfolios/{id}/reports/growth', { params: { path: { id: p.id }, query: { period: 'week' } } }))) as Schemas['GrowthReport'];
  expect(report.rows.at(-1)!.closing).toBe('101234.56');
});

test('a viewer key sees the portfolio, its waiting task, and no action buttons', async ({ page, api, engine }) => {
  const operator = api.client('operator');
  const p = await ok(operator.POST('/v1/portfolios', {
    body: { name: unique('Browser viewer portfolio'), owner: 'browser@example.com', initialCapital: '150000.00', settings: { approvals: { fork: true } } },
  }));
  // A fork waiting for approval, so there is a task the viewer must not be able to decide.
  const gen = p.units[0]!.accounts.find((a) => a.type === 'gen')!;
  await ok(operator.POST('/v1/accounts/{id}/activity', {
    params: { path: { id: gen.id }, header: { 'idempotency-key': `browser-viewer-${p.id}` } },
    body: { type: 'premium', amount: '55000.00' },
  }));
  await ok(operator.POST('/v1/accounts/{id}/fork', { params: { path: { id: gen.id } }, body: {} }));
  await expect.poll(async () => (await ok(operator.GET('/v1/tasks', { params: { query: { portfolioId: p.id, status: 'open' } } }))).items.length, { timeout: 30_000 }).toBe(1);
  await signIn(page, engine.keys.viewer);
  await expect(page.getByRole('link', { name: p.name })).toBeVisible();
  await expect(page.getByRole('button', { name: 'New portfolio' })).toHaveCount(0);
  await page.getByRole('link', { name: p.name }).click();
  await expect(page.getByRole('heading', { name: p.name, level: 1 })).toBeVisible();
  await expect(page.getByRole('article', { name: 'Root unit' })).toContainText('Gen-Acc');
  await expect(page.getByRole('progressbar', { name: 'Fork progress of the root unit' })).toBeVisible();
  await expect(page.getByRole('region', { name: /^Tasks/ })).toContainText('Approve the fork');
  for (const action of [/^Record activity/, /^Fork/, /^Reinvest/, /^Merge/, /^Approve$/, /^Reject$/]) {
    await expect(page.getByRole('button', { name: action })).toHaveCount(0);
  }
  await expect(page.locator('.role')).toHaveText('viewer');
});

test('a bad key gets a clear message; a good key is kept for the tab only and never in a URL', async ({ page, engine }) => {
  await page.goto('/');
  await page.getByLabel('API key').fill('alu_this-is-not-a-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('That API key was not accepted.');
  await expect(page.getByRole('button', { name: 'Sign out' })).toHaveCount(0);

  await page.getByLabel('API key').fill(engine.keys.viewer);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  // A reload keeps the tab signed in (sessionStorage), and nothing else holds the key.
  await page.reload();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  const stored = await page.evaluate(() => ({ session: JSON.stringify(sessionStorage), local: JSON.stringify(localStorage), cookie: document.cookie, url: location.href }));
  expect(stored.session).toContain(engine.keys.viewer);
  expect(stored.local).not.toContain(engine.keys.viewer);
  expect(stored.cookie).toBe('');
  expect(stored.url).not.toContain(engine.keys.viewer);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByLabel('API key')).toBeVisible();
  expect(await page.evaluate(() => JSON.stringify(sessionStorage))).not.toContain(engine.keys.viewer);
});

test('on a phone-sized screen the page fits its width, and the dialogs work from the keyboard', async ({ page, api, engine }) => {
  const p = await ok(api.client('operator').POST('/v1/portfolios', {
    body: { name: unique('Browser phone portfolio'), owner: 'browser@example.com', initialCapital: '120000.00' },
  }));
  await page.setViewportSize({ width: 375, height: 812 });
  await signIn(page, engine.keys.operator);
  await page.goto(`/#/portfolios/${p.id}`);
  await expect(page.getByRole('heading', { name: p.name, level: 1 })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Growth' }).getByRole('img').first()).toBeVisible();
  // Wide tables scroll inside their cards; the page itself never scrolls sideways.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);

  // Keyboard: Enter opens the dialog with focus inside it, Escape closes it and focus returns to the button.
  const button = page.getByRole('button', { name: 'Record activity on the Rev-Acc of the root unit' });
  await button.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: /Record activity/ });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel('Type')).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(dialog.getByLabel('Amount ($)')).toBeFocused();
  await page.keyboard.type('12.5');
  await page.keyboard.press('Enter');
  await expect(dialog.getByRole('status')).toContainText('Recorded.');
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(button).toBeFocused();
  const rev = p.units[0]!.accounts.find((a) => a.type === 'rev')!;
  const after = await ok(api.client('viewer').GET('/v1/accounts/{id}', { params: { path: { id: rev.id } } }));
  expect(after.balance).toBe(new Decimal(rev.balance).plus('12.5').toFixed(2));
});
