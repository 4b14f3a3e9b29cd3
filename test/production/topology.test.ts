/**
 * The production topology (scripts/stack: PostgreSQL, a real Temporal server
 * on it with 8 history shards, two worker processes, two API processes) doing
 * real work, then losing a worker and an API process to SIGKILL under load.
 *
 * Not part of `npm test`: `npm run test:production` runs it (CI after
 * `npm test`), and its first run builds the Temporal server (minutes).
 * Deadlines are generous: a 2-core machine runs all of it at once.
 */
import { Client as Pg } from 'pg';
import { ApiError, createAlluseClient, ok } from '../../src/client';
import { SCHEDULE_IDS, workflowIds } from '../../src/shared/operations';
import { type ForkResult, type MergeResult, type Operation, type ReinvestResult, engineHelpers, eventually } from '../support/engine';
import { failoverClient } from './failover';
import { killHard, stackInfo } from './stack-info';

const QUARTER = '2026Q3';
/** Every operation of the load must end within this, through the kill and the timeouts it causes. */
const SETTLE_MS = 8 * 60_000;

const stack = stackInfo();
let db: Pg;

beforeAll(async () => {
  db = new Pg({ connectionString: stack.engineUrl });
  await db.connect();
  // The schedules would start forks and merges of their own mid-test: paused, as an operator pauses them for maintenance.
  const admin = createAlluseClient({ baseUrl: stack.apis[0]!.url, apiKey: stack.adminKey });
  for (const scheduleId of Object.values(SCHEDULE_IDS)) await ok(admin.POST('/v1/schedules/{scheduleId}/pause', { params: { path: { scheduleId } } }));
});

afterAll(() => db?.end());

const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => (await db.query(sql, params)).rows as T[];

it('runs a fork, a merge and a reinvestment through both API processes', async () => {
  const [one, two] = stack.apis.map((a) => engineHelpers(createAlluseClient({ baseUrl: a.url, apiKey: stack.adminKey }))) as [ReturnType<typeof engineHelpers>, ReturnType<typeof engineHelpers>];
  const p = await one.portfolio('300000.00', { mergeCoolingHours: 0 });
  await two.activity(p.gen, 'premium', '50001.01');

  // Started on one process, followed on the other: they share nothing but PostgreSQL and Temporal.
  const fork = await two.waitFor<ForkResult>(await one.startFork(p.gen), 120_000);
  expect(fork.status).toBe('completed');
  expect(fork.result.summary).toMatchObject({ forkAmount: '50001.01', childGen: '25000.51', childCom: '25000.50' });

  await one.activity(fork.result.summary.newGenAccountId, 'premium', '449998.99');
  const merge = await one.waitFor<MergeResult>(await two.startMerge(fork.result.summary.newUnitId), 120_000);
  expect(merge.status).toBe('completed');
  expect(merge.result.summary.total).toBe('500000.00');

  await two.activity(p.rev, 'premium', '10000.00');
  const reinvest = await two.waitFor<ReinvestResult>(await one.startReinvest(p.rev, { quarter: QUARTER }), 120_000);
  expect(reinvest.status).toBe('completed');
  expect(reinvest.result.summary).toMatchObject({ contracts: '7125.00', leaps: '2375.00' });

  for (const h of [one, two]) {
    expect((await h.tree(p.id)).totals).toEqual({ balance: '810000.00', inFlight: '0.00' });
    expect((await h.integrity(p.id)).ok).toBe(true);
  }
});

/** One operation the load asks for, and the id the engine must give it (operation ids are business keys). */
interface Requested {
  type: 'fork' | 'merge' | 'reinvestment';
  expectedId: string;
  start(h: ReturnType<typeof engineHelpers>): Promise<string>;
}

it('loses and duplicates nothing when a worker and an API process are killed mid-load', async () => {
  const urls = stack.apis.map((a) => a.url);
  const failovers: string[] = [];
  const helpers = (first: number, onFailover = (what: string) => void failovers.push(what)) =>
    engineHelpers(failoverClient(urls, first, stack.adminKey, onFailover));

  // Each portfolio: a forked unit grown to the merge threshold, a second fork due on the root Gen-Acc,
  // cash to reinvest on the Rev-Acc. Set up through both processes, before any kill.
  const portfolios = 12;
  const setups = await inParallel(portfolios, 4, async (i) => {
    const h = helpers(i % 2);
    const p = await h.portfolio('300000.00', { mergeCoolingHours: 0, forkCoolingHours: 0, maxForksPerDay: 1000 });
    await h.activity(p.gen, 'premium', '50001.01');
    const fork = await h.waitFor<ForkResult>(await h.startFork(p.gen), 120_000);
    if (fork.status !== 'completed') throw new Error(`set-up fork of ${p.gen} ended ${fork.status}`);
    await h.activity(fork.result.summary.newGenAccountId, 'premium', '449998.99');
    await h.activity(p.gen, 'premium', '50001.01');
    await h.activity(p.rev, 'premium', '10000.00');
    return { p, unitId: fork.result.summary.newUnitId };
  });

  const requested: Requested[] = setups.flatMap(({ p, unitId }) => [
    { type: 'fork', expectedId: workflowIds.fork(p.gen, 2), start: (h) => h.startFork(p.gen) },
    { type: 'merge', expectedId: workflowIds.merge(unitId), start: (h) => h.startMerge(unitId) },
    { type: 'reinvestment', expectedId: workflowIds.reinvest(p.rev, QUARTER), start: (h) => h.startReinvest(p.rev, { quarter: QUARTER }) },
  ] satisfies Requested[]);
  // Interleaved by type, so forks, merges and reinvestments run side by side.
  const order = [0, 1, 2].flatMap((t) => requested.filter((_, j) => j % 3 === t));

  // The kill: as soon as operations are in flight (started, not ended), SIGKILL worker-1 and api-1 together.
  let loadEnded = false;
  const inFlight = async () => Number((await query<{ n: string }>(
    `select (select count(*) from forking_events where status = 'started') + (select count(*) from merging_events where status = 'started')
          + (select count(*) from reinvestment_events where status = 'started') as n`))[0]!.n);
  const killer = (async () => {
    const n = await eventually('operations in flight', async () => {
      if (loadEnded) throw new Error('the load ended before three operations were in flight at once');
      const now = await inFlight();
      return now >= 3 && now;
    }, { timeoutMs: 180_000, intervalMs: 25 });
    await Promise.all([killHard(stack.workers[0]!), killHard(stack.apis[0]!)]);
    return n;
  })();

  const load = inParallel(order.length, 6, async (j) => {
    const r = order[j]!;
    let retried = false;
    const h = helpers(j % 2, (what) => {
      retried = true;
      failovers.push(what);
    });
    const operationId = await startOnce(r, h, () => retried);
    const startRetried = retried;
    return { r, operationId, startRetried, op: await h.waitFor(operationId, SETTLE_MS) };
  }).finally(() => (loadEnded = true));
  // Both settled before either's failure is reported, so nothing runs on after the test.
  const [loaded, kill] = await Promise.allSettled([load, killer]);
  if (loaded.status === 'rejected') throw loaded.reason;
  if (kill.status === 'rejected') throw kill.reason;
  const outcomes = loaded.value;

  const count = (status: string) => outcomes.filter((o) => o.op.status === status).length;
  process.stderr.write(`killed worker-1 and api-1 with ${kill.value} operations in flight; ${failovers.length} requests went to api-2 instead `
    + `(${outcomes.filter((o) => o.startRetried).length} of them starts); ${outcomes.length} operations: ${count('completed')} completed, `
    + `${count('compensated')} compensated\n`);
  // The kill came mid-load, and callers of the killed API process went to the other one.
  expect(kill.value).toBeGreaterThanOrEqual(3);
  expect(failovers.length).toBeGreaterThan(0);

  // Nothing lost: every operation asked for has its one id and has ended completed, or compensated with nothing moved.
  for (const { r, operationId, op } of outcomes) {
    expect(operationId).toBe(r.expectedId);
    expect([`${r.expectedId} completed`, `${r.expectedId} compensated`]).toContain(`${op.operationId} ${op.status}`);
  }
  const loadPortfolios = setups.map((s) => s.p.id);
  const ended = await endedRecords(loadPortfolios);
  expect(ended.map((e) => e.workflow_id).sort()).toEqual(requested.map((r) => r.expectedId).sort());
  for (const { op } of outcomes) expect(ended.find((e) => e.workflow_id === op.operationId)!.status).toBe(op.status);

  // Nothing duplicated: no operation beyond those asked for, and each step's ledger entry once.
  const forks = await query<{ parent_account_id: string; seqs: number[] }>(
    'select parent_account_id, array_agg(seq order by seq) as seqs from forking_events where portfolio_id = any($1) group by 1', [loadPortfolios]);
  expect(forks.map((f) => f.parent_account_id).sort()).toEqual(setups.map((s) => s.p.gen).sort());
  for (const f of forks) expect(f.seqs).toEqual([1, 2]);
  const repeatedSteps = await query<{ operation_id: string; kind: string; n: string }>(
    'select operation_id, kind, count(*) as n from journal_entries where operation_id is not null group by 1, 2 having count(*) > 1');
  expect(repeatedSteps).toEqual([]);
  const kinds = await query<{ operation_id: string; kinds: string[] }>(
    'select operation_id, array_agg(kind order by kind) as kinds from journal_entries where operation_id = any($1) group by 1',
    [outcomes.filter((o) => o.op.status === 'completed').map((o) => o.operationId)]);
  for (const { r, operationId, op } of outcomes) {
    if (op.status !== 'completed') continue;
    const essential = { fork: ['fork.debit-parent', 'fork.fund-children'], merge: ['merge.move'], reinvestment: ['reinvestment.allocate'] }[r.type];
    expect(kinds.find((k) => k.operation_id === operationId)?.kinds).toEqual(expect.arrayContaining(essential));
  }
  // A compensated operation moved nothing: the net of its postings is zero on every account and bucket.
  for (const { operationId, op } of outcomes) {
    if (op.status !== 'compensated') continue;
    const net = await query('select p.account_id, p.bucket, sum(p.amount) from postings p join journal_entries e on e.id = p.entry_id where e.operation_id = $1 group by 1, 2 having sum(p.amount) <> 0', [operationId]);
    expect(net).toEqual([]);
  }

  // Every portfolio holds exactly what was paid in, nothing in flight, and passes its integrity check.
  const survivor = helpers(1);
  for (const { p } of setups) {
    expect((await survivor.tree(p.id)).totals).toEqual({ balance: '860001.01', inFlight: '0.00' });
    const integrity = await survivor.integrity(p.id);
    expect(integrity.checks.filter((c) => !c.ok)).toEqual([]);
    expect(integrity.ok).toBe(true);
  }
});

/**
 * Starts an operation once, from the caller's point of view: 202 with its id,
 * or, when the request had to be sent again to the other process (the first
 * one may have started it before it died), a 409 naming the same operation,
 * or a 422 because that operation has already done its work. An answer a
 * caller could not explain is a failure.
 */
async function startOnce(r: Requested, h: ReturnType<typeof engineHelpers>, retried: () => boolean): Promise<string> {
  try {
    return await r.start(h);
  } catch (err) {
    if (!(err instanceof ApiError) || !retried()) throw err;
    if (err.status === 409 && err.problem.operationId) return err.problem.operationId;
    if (err.status === 422) return r.expectedId;
    throw err;
  }
}

/** The ended fork, merge and reinvestment records of the load's portfolios (their set-up forks were seq 1). */
async function endedRecords(portfolioIds: string[]): Promise<{ workflow_id: string; status: Operation['status'] }[]> {
  return query(
    `select workflow_id, status from forking_events where portfolio_id = any($1) and seq = 2 and status <> 'started'
     union all select workflow_id, status from merging_events where portfolio_id = any($1) and status <> 'started'
     union all select workflow_id, status from reinvestment_events where portfolio_id = any($1) and status <> 'started'`,
    [portfolioIds],
  );
}

/** `count` tasks, at most `concurrency` at a time; their results in order. */
async function inParallel<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < count; i = next++) results[i] = await task(i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return results;
}
