import type { MikroORM } from '@mikro-orm/postgresql';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
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
import { TaskService } from '../../src/services/tasks';
import { type ForkInput, type OperationResult, workflowIds } from '../../src/shared/operations';
import { createTestDatabase } from '../support/db';
import { startTimeSkippingEnvironment } from '../support/time-skipping';
import { testTaskQueue, workflowBundle } from '../support/worker';

jest.setTimeout(120_000);

const HOUR = 3_600_000;
let env: TestWorkflowEnvironment;
let db: { orm: MikroORM; close(): Promise<void> };
let tasks: TaskService;
let ledger: LedgerService;

beforeAll(async () => {
  env = await startTimeSkippingEnvironment();
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default', searchAttributes: Object.fromEntries(SEARCH_ATTRIBUTES.map((k) => [k, 2 /* Keyword */])),
  });
  db = await createTestDatabase();
  ledger = new LedgerService(db.orm);
  tasks = new TaskService(db.orm, env.client);
});
afterAll(async () => {
  await env?.teardown();
  await db?.close();
});

/** A portfolio whose Gen-Acc holds a $50,001.02 surplus, with the given operator settings. */
async function forkable(settings: Record<string, unknown>) {
  const portfolio = await new PortfolioService(db.orm, ledger).create(
    { name: 'T', owner: 'o', initialCapital: money('300000.00'), template: 'moderate', settings }, 'test',
  );
  const gen = portfolio.units[0]!.accounts.find((a) => a.type === 'gen')!.id;
  await new AccountService(db.orm, ledger).recordActivity(gen, { type: 'premium', amount: money('50001.02') }, `p-${gen}`, 'test');
  const input: ForkInput = { accountId: gen, portfolioId: portfolio.id, seq: 1, trigger: 'manual', actor: 'test' };
  return { portfolio, gen, input, workflowId: workflowIds.fork(gen, 1) };
}

/** Waits (in real time; simulated time stands still while nobody awaits a result) for the operation's open task. */
async function openTask(operationId: string, titlePart = '') {
  for (let i = 0; i < 400; i++) {
    const open = (await tasks.list({ operationId, status: 'open' })).find((t) => t.title.includes(titlePart));
    if (open) return open;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no open task for ${operationId}`);
}

async function worker(taskQueue: string) {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities({ orm: db.orm, ledger, broker: new PaperBroker(db.orm), market: new SyntheticMarketData() }),
  });
}

const moved = async (operationId: string) =>
  (await db.orm.em.fork().execute<{ n: string }[]>('select count(*) as n from journal_entries where operation_id = ?', [operationId]))[0]!.n;

it('an approval given after 2 simulated days runs the fork; reminders went out each day meanwhile', async () => {
  const f = await forkable({ approvals: { fork: true } });
  const taskQueue = testTaskQueue();
  const w = await worker(taskQueue);
  const result = await w.runUntil(async () => {
    const handle = await env.client.workflow.start('fork', { workflowId: f.workflowId, taskQueue, args: [f.input] });
    const task = await openTask(f.workflowId);
    expect(await moved(f.workflowId)).toBe('0');
    await env.sleep('2 days');
    expect((await tasks.get(task.id)).reminders).toBe(2);
    await tasks.decide(task.id, { decision: 'approve' }, 'operator:alice');
    return (await handle.result()) as OperationResult;
  });
  expect(result.status).toBe('completed');
  expect(result.summary).toMatchObject({ childGen: '25000.51', childCom: '25000.51' });
  expect(await moved(f.workflowId)).toBe('2');
});

it('no decision within 72 h: expired, nothing moved, and a reminder went out at 24 h', async () => {
  const f = await forkable({ approvals: { fork: true } });
  const taskQueue = testTaskQueue();
  const w = await worker(taskQueue);
  const failure = await w.runUntil(async () => {
    const handle = await env.client.workflow.start('fork', { workflowId: f.workflowId, taskQueue, args: [f.input] });
    await openTask(f.workflowId);
    return handle.result().then(() => undefined, (e: unknown) => e);
  });
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  expect(((failure as WorkflowFailedError).cause as ApplicationFailure).type).toBe('Expired');

  const [task] = await tasks.list({ operationId: f.workflowId });
  expect(task).toMatchObject({ status: 'expired', decidedBy: 'system:deadline' });
  expect(Date.parse(task!.dueAt) - Date.parse(task!.createdAt)).toBe(72 * HOUR);
  const due = await db.orm.em.fork().execute<{ data: { reminder: number; at: string } }[]>(
    `select data from events where type = 'task.due' and data->>'taskId' = ? order by (data->>'reminder')::int`, [task!.id],
  );
  expect(due.map((e) => e.data.reminder)).toEqual([1, 2]);
  // At 24 h of simulated time (plus the moment the timer's workflow task took).
  const firstReminder = Date.parse(due[0]!.data.at) - Date.parse(task!.createdAt);
  expect(firstReminder).toBeGreaterThanOrEqual(24 * HOUR);
  expect(firstReminder).toBeLessThan(24 * HOUR + 10_000);
  expect(await moved(f.workflowId)).toBe('0');
  const [ended] = await db.orm.em.fork().execute<{ type: string }[]>(
    `select type from events where data->>'operationId' = ? and type like 'operation.%' order by created_at desc limit 1`, [f.workflowId],
  );
  expect(ended!.type).toBe('operation.expired');
});

it('a manual-broker fork whose transfer is reported done 3 simulated days later completes', async () => {
  const f = await forkable({ broker: 'manual' });
  const taskQueue = testTaskQueue();
  const w = await worker(taskQueue);
  const result = await w.runUntil(async () => {
    const handle = await env.client.workflow.start('fork', { workflowId: f.workflowId, taskQueue, args: [f.input] });
    await tasks.decide((await openTask(f.workflowId, 'Open')).id, { decision: 'done', brokerReference: 'U-1' }, 'operator:bob');
    const first = await openTask(f.workflowId, 'Transfer');
    await env.sleep('3 days');
    // Broker tasks do not expire: past due they keep reminding.
    expect((await tasks.get(first.id)).status).toBe('open');
    await tasks.decide(first.id, { decision: 'done', brokerReference: 'WIRE-9' }, 'operator:bob');
    const second = await openTask(f.workflowId, 'Transfer');
    await tasks.decide(second.id, { decision: 'done', brokerReference: 'WIRE-10' }, 'operator:bob');
    return (await handle.result()) as OperationResult;
  });
  expect(result.status).toBe('completed');
  expect(await moved(f.workflowId)).toBe('2');
});
