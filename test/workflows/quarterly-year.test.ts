import type { MikroORM } from '@mikro-orm/postgresql';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { PaperBroker } from '../../src/broker/paper';
import { money } from '../../src/domain/money';
import { LedgerService } from '../../src/ledger/ledger';
import { SyntheticMarketData } from '../../src/market/provider';
import { SEARCH_ATTRIBUTES } from '../../src/infra/temporal';
import { AccountService } from '../../src/services/accounts';
import { PortfolioService } from '../../src/services/portfolios';
import { createTestDatabase } from '../support/db';
import { startTimeSkippingEnvironment } from '../support/time-skipping';
import { testTaskQueue } from '../support/worker';
import { workflowInterceptorModules } from '../../src/worker';

jest.setTimeout(120_000);

let env: TestWorkflowEnvironment;
let db: { orm: MikroORM; close(): Promise<void> };

beforeAll(async () => {
  // Not TestWorkflowEnvironment.createTimeSkipping(): its fixed 5 s start-up wait fails on a busy machine.
  env = await startTimeSkippingEnvironment();
  // As on a real server, the engine's search attributes must exist before a scan tags the runs it starts
  // (the test server implements adding them but not listing them).
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default', searchAttributes: Object.fromEntries(SEARCH_ATTRIBUTES.map((k) => [k, 2 /* Keyword */])),
  });
  db = await createTestDatabase();
});
afterAll(async () => {
  await env?.teardown();
  await db?.close();
});

it('runs a year of quarterly reinvestments in skipped time: exactly four per eligible account', async () => {
  const ledger = new LedgerService(db.orm);
  const portfolio = await new PortfolioService(db.orm, ledger).create({ name: 'Y', owner: 'o', initialCapital: money('300000.00'), template: 'moderate' }, 'test');
  const acct = (t: string) => portfolio.units[0]!.accounts.find((a) => a.type === t)!.id;
  const accounts = new AccountService(db.orm, ledger);
  await accounts.recordActivity(acct('rev'), { type: 'premium', amount: money('20000.00') }, 'y1', 'test');
  await accounts.recordActivity(acct('com'), { type: 'premium', amount: money('8000.00') }, 'y2', 'test');

  const taskQueue = testTaskQueue();
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('./year-driver'),
    interceptors: { workflowModules: workflowInterceptorModules },
    activities: createActivities({ orm: db.orm, ledger, broker: new PaperBroker(db.orm), market: new SyntheticMarketData() }),
  });
  const quarters = await worker.runUntil(() =>
    env.client.workflow.execute('reinvestmentYear', { workflowId: `year-${portfolio.id}`, taskQueue, args: [{ portfolioId: portfolio.id, quarters: 4 }] }),
  );

  expect(new Set(quarters).size).toBe(4);
  const events = await db.orm.em.fork().execute<{ account_id: string; quarter: string; status: string }[]>(
    'select account_id, quarter, status from reinvestment_events where portfolio_id = ? order by quarter', [portfolio.id],
  );
  for (const t of ['rev', 'com']) {
    const mine = events.filter((e) => e.account_id === acct(t));
    expect(mine.map((e) => e.quarter)).toEqual(quarters);
    // The first quarter invests the piled-up premium; later quarters find nothing above the minimum and record a skip.
    expect(mine.map((e) => e.status)).toEqual(['completed', 'skipped', 'skipped', 'skipped']);
  }
  // Rev: 110000.00 with 24500.00 cash; buffer 5500.00; 19000.00 reinvested 75/25 = 14250.00 + 4750.00, once.
  expect((await accounts.get(acct('rev'))).buckets).toEqual({ cash: '5500.00', contracts: '99750.00', leaps: '4750.00', reserve: '0.00' });
  expect(events.filter((e) => e.account_id === acct('gen'))).toEqual([]);
});

