import type { ChildProcess } from 'node:child_process';
import type { MikroORM } from '@mikro-orm/postgresql';
import { type TestApi, startTestApi } from '../support/api';
import { createTestDatabase } from '../support/db';
import { eventually, statusOf } from '../support/engine';
import { protocolHelpers } from '../support/protocol';
import { freePort } from '../support/ports';
import { testTaskQueue } from '../support/worker';
import { killHard, spawnWorker } from '../support/worker-process';

jest.setTimeout(240_000);

let db: { orm: MikroORM; url: string; close(): Promise<void> };
let api: TestApi;
const workers: ChildProcess[] = [];

afterAll(async () => {
  for (const w of workers) await killHard(w);
  await api?.close();
  await db?.close();
});

it('completes a fork exactly once when its worker is killed with SIGKILL in the middle', async () => {
  db = await createTestDatabase();
  const queue = testTaskQueue();
  const env = {
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: process.env.ALLUSE_TEST_TEMPORAL_ADDRESS!,
    TEMPORAL_TASK_QUEUE: queue,
    // A slow broker widens the window in which the kill lands mid-saga.
    PAPER_BROKER_LATENCY_MS: '700',
  };
  workers.push(await spawnWorker(env));
  api = await startTestApi(db.orm, queue);
  const h = protocolHelpers(api, db.orm);
  const p = await h.portfolio();
  await h.activity(p.gen, 'premium', '50001.01');

  const id = await h.startFork(p.gen);
  // Wait until money has left the parent (the debit is committed) but the fork is not done.
  const em = db.orm.em.fork();
  await eventually('the parent debit', async () =>
    (await em.execute(`select 1 from journal_entries where operation_id = ? and kind = 'fork.debit-parent'`, [id])).length > 0, { timeoutMs: 60_000, intervalMs: 50 });
  const [midway] = await em.execute<{ status: string }[]>('select status from forking_events where workflow_id = ?', [id]);
  expect(midway!.status).toBe('started');
  await killHard(workers[0]!);
  expect((await h.account(p.gen)).status).toBe('forking');

  workers.push(await spawnWorker(env));
  const op = await h.waitFor(id, 90_000);
  expect(op.status).toBe('completed');

  const entries = await em.execute<{ kind: string }[]>('select kind from journal_entries where operation_id = ? order by created_at', [id]);
  expect(entries.map((e) => e.kind)).toEqual(['fork.debit-parent', 'fork.fund-children']);
  const [transfers] = await em.execute<{ n: string }[]>(`select count(*) as n from broker_transfers where idempotency_key like ? and status = 'settled'`, [`fork:${p.gen}:%`]);
  expect(transfers!.n).toBe('2');
  expect(await h.account(p.gen)).toMatchObject({ balance: '120000.00', status: 'active' });
  const tree = await h.tree(p.id);
  const forked = tree.units.filter((u) => u.kind === 'forked');
  expect(forked).toHaveLength(1);
  expect(forked[0]!.accounts.map((a) => a.balance).sort()).toEqual(['25000.50', '25000.51']);
  expect(tree.totals).toEqual({ balance: '350001.01', inFlight: '0.00' });
  expect((await h.integrity(p.id)).ok).toBe(true);
});

it('a decision completes an operation exactly once after its worker was killed mid-wait and the engine restarted', async () => {
  const own = await createTestDatabase();
  const queue = testTaskQueue();
  const env = { DATABASE_URL: own.url, TEMPORAL_ADDRESS: process.env.ALLUSE_TEST_TEMPORAL_ADDRESS!, TEMPORAL_TASK_QUEUE: queue };
  try {
    workers.push(await spawnWorker(env));
    let engine = await startTestApi(own.orm, queue);
    let h = protocolHelpers(engine, own.orm);
    const p = await h.portfolio('300000.00', { approvals: { fork: true } });
    await h.activity(p.gen, 'premium', '50001.01');
    const id = await h.startFork(p.gen);
    const task = await h.openTask(id, undefined, 60_000);
    expect(task).toMatchObject({ portfolioId: p.id, status: 'open' });

    // The whole engine goes away while the operation waits on a person: worker killed, API stopped.
    await killHard(workers[workers.length - 1]!);
    await engine.close();
    const metricsPort = await freePort();
    workers.push(await spawnWorker({ ...env, WORKER_METRICS_PORT: String(metricsPort) }));
    engine = await startTestApi(own.orm, queue);
    h = protocolHelpers(engine, own.orm);

    const approve = () => engine.client.POST('/v1/tasks/{id}/decide', { params: { path: { id: task.id } }, body: { decision: 'approve' } });
    expect(await statusOf(approve())).toBe(200);
    expect(await statusOf(approve())).toBe(409);
    const op = await h.waitFor(id, 90_000);
    expect(op.status).toBe('completed');
    const em = own.orm.em.fork();
    const entries = await em.execute<{ kind: string }[]>('select kind from journal_entries where operation_id = ? order by created_at', [id]);
    expect(entries.map((e) => e.kind)).toEqual(['fork.debit-parent', 'fork.fund-children']);
    const ended = await em.execute<{ type: string }[]>(`select type from events where data->>'operationId' = ? and type = 'operation.completed'`, [id]);
    expect(ended).toHaveLength(1);
    expect((await h.integrity(p.id)).ok).toBe(true);
    // The restarted worker (alone, no API in its process) serves its own metrics: it finished this one fork.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain('alluse_operations_total{type="fork",outcome="completed"} 1');
    await engine.close();
  } finally {
    await own.close();
  }
});

it('finishes a statement import exactly once when its worker is killed with SIGKILL between batches', async () => {
  const own = await createTestDatabase();
  const queue = testTaskQueue();
  const env = { DATABASE_URL: own.url, TEMPORAL_ADDRESS: process.env.ALLUSE_TEST_TEMPORAL_ADDRESS!, TEMPORAL_TASK_QUEUE: queue };
  const engine = await startTestApi(own.orm, queue);
  try {
    workers.push(await spawnWorker(env));
    const h = protocolHelpers(engine, own.orm);
    const created = await h.portfolio('300000.00', {}, { name: 'I', openedAt: '2026-06-01' });
    const { gen } = created;
    const lines = 4000;
    const csv = ['date,account,type,amount,reference,note', ...Array.from({ length: lines }, (_, i) =>
      `2026-${String(7 + (i % 4)).padStart(2, '0')}-15,${gen},premium,1.${String(i % 100).padStart(2, '0')},KILL-${i},`)].join('\n');
    const res = await h.importStatement(created.id, csv);

    // Kill the worker once some batches have committed and others have not.
    const em = own.orm.em.fork();
    const count = async (status: string) =>
      Number((await em.execute<{ n: string }[]>('select count(*) as n from import_lines where import_id = ? and status = ?', [res.importId, status]))[0]!.n);
    // A slow machine may take many seconds to start the worker and commit the first batch: wait on the
    // outcome (with a generous deadline), not on a fixed number of polls.
    await eventually('a committed batch', async () => (await count('posted')) > 0, { timeoutMs: 60_000, intervalMs: 25 });
    await killHard(workers.at(-1)!);
    const postedBeforeKill = await count('posted');
    expect(postedBeforeKill).toBeGreaterThan(0);
    expect(postedBeforeKill).toBeLessThan(lines);

    workers.push(await spawnWorker(env));
    expect((await h.waitFor(res.operationId, 90_000)).status).toBe('completed');
    const done = await h.importOf(res.importId);
    expect(done).toMatchObject({ status: 'completed', lines, posted: lines, duplicates: 0, pending: 0, rejected: [] });
    const [entries] = await em.execute<{ n: string }[]>(`select count(*) as n from journal_entries where idempotency_key like 'statement:%'`);
    expect(entries!.n).toBe(String(lines));
    const total = Array.from({ length: lines }, (_, i) => 100 + (i % 100)).reduce((a, b) => a + b, 0);
    expect((await h.account(gen)).balance).toBe((120000 + total / 100).toFixed(2));
    expect((await h.integrity(created.id)).ok).toBe(true);
  } finally {
    await engine.close();
    await own.close();
  }
});
