import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client, WorkflowHandleWithStartDetails } from '@temporalio/client';
import { buildServices, startApi } from '../../src/bootstrap';
import { type AlluseClient, type Schemas, createAlluseClient } from '../../src/client';
import { silentLogger } from '../../src/infra/logger';
import { connectClient, eagerStartClient, ensureSearchAttributes } from '../../src/infra/temporal';
import { SyntheticMarketData } from '../../src/market/provider';
import { ProtocolService } from '../../src/services/protocols';
import { planQuery, planUpdate } from '../../src/shared/queries';
import { createTestDatabase } from '../support/db';
import { type EngineHelpers, type ForkResult, type ForkSummary, type MergeResult, type ReinvestResult, engineHelpers, okWith, refused } from '../support/engine';
import { startTestWorker, testTaskQueue } from '../support/worker';
import type { WorkerHandle } from '../../src/worker';

/**
 * The 202 of a fork, merge or reinvestment carries the plan the run fixed
 * (the `plan` update sent right after the start), through an eager start
 * when the worker shares the process and an ordinary one otherwise. The
 * start alone decides between 202 and 409; a late plan never fails a start.
 */
jest.setTimeout(120_000);

/**
 * Long enough that a loaded machine still answers within it, so the tests
 * that expect a plan never depend on timing; the test without a worker uses
 * a short bound of its own.
 */
const GENEROUS_PLAN_WAIT_MS = 60_000;

interface Engine {
  client: AlluseClient;
  h: EngineHelpers;
  stop(): Promise<void>;
}

/** The real API with its ProtocolService built with `protocols`, and a typed client with an admin's key. */
async function engineWith(orm: MikroORM, temporal: Client, taskQueue: string, protocols: { eagerClient?: Client; planWaitMs: number }): Promise<Engine> {
  const services = buildServices(orm, temporal, { taskQueue });
  services.protocols = new ProtocolService(orm, temporal, { taskQueue, market: new SyntheticMarketData(), projections: services.projections, ...protocols });
  const api = await startApi({ orm, services, temporal, host: '127.0.0.1', port: 0, log: silentLogger });
  const client = createAlluseClient({ baseUrl: api.url, apiKey: (await services.apiKeys.create('start-plan test', 'admin', 'test')).key });
  return { client, h: engineHelpers(client), stop: () => api.stop() };
}

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let queue: string;
let worker: WorkerHandle;
let temporal: Client;
let eager: Client;
/** API and worker in one process (`npm start`): starts are eager. */
let shared: Engine;
/** API alone (`npm run api`): ordinary starts. */
let apart: Engine;

beforeAll(async () => {
  db = await createTestDatabase();
  queue = testTaskQueue();
  worker = await startTestWorker(db.orm, queue);
  temporal = await connectClient(process.env.ALLUSE_TEST_TEMPORAL_ADDRESS!, 'default');
  await ensureSearchAttributes(temporal, 'default', silentLogger);
  eager = eagerStartClient(worker.connection, 'default');
  shared = await engineWith(db.orm, temporal, queue, { eagerClient: eager, planWaitMs: GENEROUS_PLAN_WAIT_MS });
  apart = await engineWith(db.orm, temporal, queue, { planWaitMs: GENEROUS_PLAN_WAIT_MS });
});

afterAll(async () => {
  await shared?.stop();
  await apart?.stop();
  await worker?.stop();
  await temporal?.connection.close();
  await db?.close();
});

type Started = Schemas['OperationStarted'];
const startFork = (e: Engine, accountId: string) => okWith(202, e.client.POST('/v1/accounts/{id}/fork', { params: { path: { id: accountId } }, body: {} })) as Promise<Started>;
const startMerge = (e: Engine, unitId: string) => okWith(202, e.client.POST('/v1/units/{id}/merge', { params: { path: { id: unitId } }, body: {} })) as Promise<Started>;
const startReinvest = (e: Engine, accountId: string) =>
  okWith(202, e.client.POST('/v1/accounts/{id}/reinvest', { params: { path: { id: accountId } }, body: { quarter: '2026Q3' } })) as Promise<Started>;
const engines = () => ({ shared, apart });

describe.each(['shared', 'apart'] as const)('the 202 with the API and the worker %s', (which) => {
  it("carries the fork's plan as its first step fixed it: the amounts and the new unit's ids", async () => {
    const e = engines()[which];
    const p = await e.h.portfolio();
    await e.h.activity(p.gen, 'premium', '50001.01');
    const starts = jest.spyOn(eager.workflow, 'start');
    try {
      const started = await startFork(e, p.gen);
      expect(started).toEqual({
        operationId: `fork-${p.gen}-1`, type: 'fork', status: 'running',
        plan: {
          surplus: '50001.01', forkAmount: '50001.01', retained: '0.00', childGen: '25000.51', childCom: '25000.50',
          newUnitId: expect.any(String), newGenAccountId: expect.any(String), newComAccountId: expect.any(String),
        },
      });
      // With the worker in this process the start was eager: the server handed the first workflow task back with it.
      if (which === 'shared') {
        expect(starts).toHaveBeenCalledTimes(1);
        expect(((await starts.mock.results[0]!.value) as WorkflowHandleWithStartDetails).eagerlyStarted).toBe(true);
      } else {
        expect(starts).not.toHaveBeenCalled();
      }
      // The plan is what the run then did, ids included.
      const op = await e.h.waitFor<ForkResult>(started.operationId);
      expect(op.status).toBe('completed');
      const done = forkPlanIn(op.result.summary);
      expect(started.plan).toEqual(done);
      const unit = (await e.h.tree(p.id)).units.find((u) => u.id === done.newUnitId);
      expect(unit?.accounts.map((a) => a.id).sort()).toEqual([done.newGenAccountId, done.newComAccountId].sort());
    } finally {
      starts.mockRestore();
    }
  });

  it("carries the merge's sources and total, and the reinvestment's allocated amounts", async () => {
    const e = engines()[which];
    const p = await e.h.portfolio();
    await e.h.activity(p.gen, 'premium', '50001.01');
    const forked = await e.h.forked(p.gen);
    await e.h.activity(forked.newGenAccountId, 'premium', '449998.99');
    const merge = await startMerge(e, forked.newUnitId);
    const merged = await e.h.waitFor<MergeResult>(merge.operationId);
    expect(merged.status).toBe('completed');
    expect(merge.plan).toEqual({ total: '500000.00', sources: merged.result.summary.sources });

    await e.h.activity(p.rev, 'premium', '10000.00');
    const reinvest = await startReinvest(e, p.rev);
    const reinvested = await e.h.waitFor<ReinvestResult>(reinvest.operationId);
    expect(reinvested.result.status).toBe('completed');
    const { strategy, regime, reinvestable, reserve, contracts, leaps } = reinvested.result.summary;
    expect(reinvest.plan).toEqual({ strategy, ...(regime !== undefined && { regime }), reinvestable, reserve, contracts, leaps, skipped: false });
    expect(reinvestable).not.toBe('0.00');
  });

  it('carries the plan of a reinvestment that skipped and closed in its first workflow task', async () => {
    const e = engines()[which];
    const p = await e.h.portfolio();
    // The Com-Acc holds no cash above its buffer: the plan step skips, and the run ends at once.
    const started = await startReinvest(e, p.com);
    const op = await e.h.waitFor<ReinvestResult>(started.operationId);
    expect(op.result.status).toBe('skipped');
    expect(started.plan).toMatchObject({ skipped: true, reinvestable: op.result.summary.reinvestable, reason: op.result.summary.reason });
    expect(op.result.summary.reason).toEqual(expect.any(String));
  });
});

describe('a second start', () => {
  it('is a 409 with the operation id and never reaches the running run; only a failed run may run again', async () => {
    const p = await shared.h.portfolio('300000.00', { broker: 'manual' });
    await shared.h.activity(p.rev, 'premium', '20000.00');
    const first = await startReinvest(shared, p.rev);
    // A manual broker: the planned amounts are what a person buys, fixed by the plan step.
    expect(first.plan).toMatchObject({ skipped: false, contracts: expect.any(String), leaps: expect.any(String) });
    const buy = await shared.h.openTask(first.operationId, 'Buy');
    const handle = temporal.workflow.getHandle(first.operationId);
    const firstRun = (await handle.describe()).runId;

    // Running: refused, through both paths, with the running operation's id.
    for (const e of [shared, apart]) {
      const again = await refused(startReinvest(e, p.rev));
      expect(again.status).toBe(409);
      expect(again.problem.operationId).toBe(first.operationId);
    }
    // The refused starts did not attach to the run: the same run, and the only update it took is its own start's.
    expect((await handle.describe()).runId).toBe(firstRun);
    expect(await updatesOf(handle.workflowId, firstRun)).toBe(1);

    // Failed (compensated): the business key may run again, as a new run with its own plan.
    await shared.h.decide(buy.id, { decision: 'failed', note: 'the broker refused the order' });
    expect((await shared.h.waitFor(first.operationId)).status).toBe('compensated');
    const second = await startReinvest(shared, p.rev);
    expect(second.operationId).toBe(first.operationId);
    expect(second.plan).toEqual(first.plan);
    const secondRun = (await handle.describe()).runId;
    expect(secondRun).not.toBe(firstRun);
    await shared.h.decide((await shared.h.openTask(second.operationId, 'Buy')).id, { decision: 'done', brokerReference: 'B-1' });
    expect((await shared.h.waitFor(second.operationId)).status).toBe('completed');

    // Completed: never started twice.
    const done = await refused(startReinvest(apart, p.rev));
    expect(done.status).toBe(409);
    expect(done.problem.operationId).toBe(first.operationId);
    expect((await handle.describe()).runId).toBe(secondRun);
  });
});

describe('no plan yet', () => {
  it('answers at once while an approval is awaited; the run fixes its plan once approved', async () => {
    const p = await shared.h.portfolio('300000.00', { approvals: { fork: true } });
    await shared.h.activity(p.gen, 'premium', '50001.01');
    const started = await startFork(shared, p.gen);
    expect(started).toEqual({ operationId: `fork-${p.gen}-1`, type: 'fork', status: 'running' });
    const handle = temporal.workflow.getHandle(started.operationId);
    // The update answers why there is no plan rather than waiting for a person.
    expect(await handle.executeUpdate(planUpdate)).toEqual({ plan: null, reason: 'approval' });

    await shared.h.decide((await shared.h.openTask(started.operationId)).id, { decision: 'approve' });
    const op = await shared.h.waitFor<ForkResult>(started.operationId);
    expect(op.status).toBe('completed');
    const done = forkPlanIn(op.result.summary);
    // A closed run still answers the query: the plan it fixed after the approval.
    expect(await handle.query(planQuery)).toEqual({ plan: done });
  });

  it('answers 202 without a plan when no worker answers within the bound; the run goes on once one polls', async () => {
    const idleQueue = testTaskQueue();
    const idle = await engineWith(db.orm, temporal, idleQueue, { planWaitMs: 300 });
    let late: WorkerHandle | undefined;
    try {
      const p = await idle.h.portfolio();
      await idle.h.activity(p.gen, 'premium', '50001.01');
      const started = await startFork(idle, p.gen);
      expect(started).toEqual({ operationId: `fork-${p.gen}-1`, type: 'fork', status: 'running' });
      // Started and running (described by Temporal: GET /v1/operations/:id would wait for its progress query, which no worker answers).
      expect((await temporal.workflow.getHandle(started.operationId).describe()).status.name).toBe('RUNNING');
      // The start stands: a second one is still a 409.
      expect((await refused(startFork(idle, p.gen))).status).toBe(409);

      late = await startTestWorker(db.orm, idleQueue);
      const op = await idle.h.waitFor<ForkResult>(started.operationId);
      expect(op.status).toBe('completed');
      expect(op.result.summary.forkAmount).toBe('50001.01');
      // The plan it fixed once it ran is there for anyone who asks (the query also answers a closed run).
      const done = forkPlanIn(op.result.summary);
      expect(await temporal.workflow.getHandle(started.operationId).query(planQuery)).toEqual({ plan: done });
    } finally {
      await late?.stop();
      await idle.stop();
    }
  });
});

/** A completed fork's summary as its plan: everything but the parent, which the request named. */
function forkPlanIn(summary: ForkSummary): Omit<ForkSummary, 'parentAccountId'> {
  const plan: Partial<ForkSummary> = { ...summary };
  delete plan.parentAccountId;
  return plan as Omit<ForkSummary, 'parentAccountId'>;
}

/** How many updates a run accepted (its history's update-accepted events). */
async function updatesOf(workflowId: string, runId: string): Promise<number> {
  const history = await temporal.workflow.getHandle(workflowId, runId).fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
}
