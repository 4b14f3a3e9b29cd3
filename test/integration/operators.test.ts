import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AlluseClient, ok } from '../../src/client';
import { loadConfig } from '../../src/config';
import { silentLogger } from '../../src/infra/logger';
import { startWebhookDispatcher } from '../../src/notify/dispatcher';
import { verifySignature } from '../../src/notify/signature';
import { startTestApi } from '../support/api';
import { type Settings, eventually, okWith, refused, statusOf } from '../support/engine';
import { useProtocolStack } from '../support/stack';

jest.setTimeout(120_000);

const s = useProtocolStack();
type Decision = Parameters<typeof s.h.decide>[1];
/** A decision as answered (for its status): by the admin unless another client is given. */
const decision = (taskId: string, body: Decision, client: AlluseClient = s.api.client) =>
  client.POST('/v1/tasks/{id}/decide', { params: { path: { id: taskId } }, body });
/** A decision that must succeed: the decided task. */
const decide = (taskId: string, body: Decision) => s.h.decide(taskId, body);
const tasksOf = async (portfolioId: string) => (await ok(s.api.client.GET('/v1/tasks', { params: { query: { portfolioId } } }))).items;
const cancel = (operationId: string) => s.api.client.POST('/v1/operations/{operationId}/cancel', { params: { path: { operationId } } });

async function forkable(settings: Settings) {
  const p = await s.h.portfolio('300000.00', settings);
  await s.h.activity(p.gen, 'premium', '50001.02');
  return p;
}

async function eventTypes(operationId: string): Promise<string[]> {
  const rows = await s.db.orm.em.fork().execute<{ type: string }[]>(
    `select type from events where data->>'operationId' = ? order by created_at, id`, [operationId],
  );
  return rows.map((r) => r.type);
}

describe('approvals', () => {
  it('waits with nothing moved, shows the plan, and runs the fork once approved; a second decision is a 409', async () => {
    const p = await forkable({ approvals: { fork: true } });
    const before = await s.h.account(p.gen);
    const op = await s.h.startFork(p.gen);

    const waiting = await s.h.until(op, 'waiting');
    expect(waiting.tasks).toHaveLength(1);
    const task = waiting.tasks![0]!;
    expect(task).toMatchObject({ kind: 'approval', status: 'open', operationId: op, portfolioId: p.id });
    expect(task.plan).toMatchObject({ eligible: true, surplus: '50001.02', plan: { forkAmount: '50001.02', childGen: '25000.51', childCom: '25000.51' } });
    // Nothing moved, nothing held: the parent is untouched while a person decides.
    expect(await s.h.account(p.gen)).toMatchObject({ balance: before.balance, status: 'active' });
    expect(await s.h.netOf(op)).toEqual([]);
    // The same business key cannot start twice while it waits.
    expect((await refused(s.h.startFork(p.gen))).status).toBe(409);

    expect(await statusOf(decision(task.id, { decision: 'approve' }, s.api.as('viewer')))).toBe(403);
    expect(await statusOf(decision(task.id, { decision: 'done', brokerReference: 'X' }))).toBe(422);
    const approved = await okWith(200, decision(task.id, { decision: 'approve', note: 'looks right' }, s.api.as('operator')));
    expect(approved).toMatchObject({ status: 'done', decision: 'approve', note: 'looks right', decidedBy: expect.stringMatching(/^api-key:/) });
    expect(await statusOf(decision(task.id, { decision: 'reject' }))).toBe(409);

    const done = await s.h.until(op, 'completed');
    expect(done.steps.map((x) => x.name)).toEqual(['approval', 'check-eligibility', 'debit-parent', 'create-unit', 'open-broker-accounts', 'broker-transfer', 'fund-children', 'complete']);
    expect(await ok(s.api.client.GET('/v1/tasks/{id}', { params: { path: { id: task.id } } }))).toMatchObject({ status: 'done', decision: 'approve' });
    expect(await eventTypes(op)).toEqual(['operation.started', 'task.created', 'operation.waiting', 'operation.completed']);
    const audit = await ok(s.api.client.GET('/v1/audit', { params: { query: { portfolioId: p.id, limit: 100 } } }));
    expect(audit.items.filter((a) => a.action === 'task.decided')).toHaveLength(1);
    expect((await s.h.integrity(p.id)).ok).toBe(true);
  });

  it('a rejection ends the operation cancelled with nothing moved', async () => {
    const p = await forkable({ approvals: { fork: true } });
    const op = await s.h.startFork(p.gen);
    const task = await s.h.openTask(op);
    expect(await statusOf(decision(task.id, { decision: 'reject', note: 'not this week' }))).toBe(200);
    const ended = await s.h.until(op, 'cancelled');
    expect(ended.error?.message).toContain('not this week');
    expect(await s.h.netOf(op)).toEqual([]);
    expect((await s.h.account(p.gen)).balance).toBe('170001.02');
    const [events] = await s.db.orm.em.fork().execute<{ n: string }[]>('select count(*) as n from forking_events where workflow_id = ?', [op]);
    expect(Number(events!.n)).toBe(0);
    expect(await eventTypes(op)).toEqual(['operation.started', 'task.created', 'operation.waiting', 'operation.cancelled']);

    // Asked again, the same business key runs again and asks again: a new run opens its own task.
    expect(await s.h.startFork(p.gen)).toBe(op);
    const second = await s.h.openTask(op);
    expect(second.id).not.toBe(task.id);
    await decide(second.id, { decision: 'approve' });
    expect((await s.h.waitFor(op)).status).toBe('completed');
  });

  it('approve checks eligibility again: a loss recorded while it waited makes it a refusal, nothing moved', async () => {
    const p = await forkable({ approvals: { fork: true } });
    const op = await s.h.startFork(p.gen);
    const task = await s.h.openTask(op);
    await s.h.activity(p.gen, 'realized_loss', '1000.00');
    await decide(task.id, { decision: 'approve' });
    const ended = await s.h.waitFor(op);
    expect(ended.status).toBe('failed');
    expect(ended.error?.type).toBe('NotEligible');
    expect(await s.h.netOf(op)).toEqual([]);
    expect(await s.h.account(p.gen)).toMatchObject({ balance: '169001.02', status: 'active' });
  });

  it('a reinvestment with nothing to invest asks no one and records its skip', async () => {
    const p = await s.h.portfolio('300000.00', { approvals: { reinvestment: true } });
    const op = await s.h.startReinvest(p.rev, { quarter: '2026Q3' });
    const ended = await s.h.waitFor(op);
    expect(ended).toMatchObject({ status: 'completed', result: { status: 'skipped' }, tasks: [] });
  });

  it('an operation waiting on a person is found by its search attribute', async () => {
    const p = await forkable({ approvals: { fork: true } });
    const op = await s.h.startFork(p.gen);
    await s.h.openTask(op);
    const deadline = Date.now() + 30_000;
    let found: string[] = [];
    while (Date.now() < deadline && !found.includes(op)) {
      found = [];
      for await (const wf of s.api.temporal.workflow.list({ query: `AlluseOperationStatus = 'waiting' AND AllusePortfolioId = '${p.id}'` })) found.push(wf.workflowId);
      if (!found.includes(op)) await new Promise((r) => setTimeout(r, 300));
    }
    expect(found).toEqual([op]);
    const listed = await ok(s.api.client.GET('/v1/operations', { params: { query: { portfolioId: p.id, status: 'waiting' } } }));
    expect(listed.items.map((o) => o.operationId)).toEqual([op]);
    expect(await statusOf(cancel(op))).toBe(202);
    await s.h.until(op, 'cancelled');
    expect((await tasksOf(p.id))[0]).toMatchObject({ status: 'cancelled' });
  });
});

describe('manual broker', () => {
  it('turns each broker step into a task and mirrors the transfers in the ledger only after they are done', async () => {
    const p = await forkable({ broker: 'manual' });
    const op = await s.h.startFork(p.gen);
    const open = await s.h.openTask(op, 'Open 2 account(s)');
    expect(open).toMatchObject({ kind: 'broker', status: 'open' });
    expect(await statusOf(decision(open.id, { decision: 'done' }))).toBe(400); // done needs the broker's reference
    expect(await statusOf(decision(open.id, { decision: 'done', brokerReference: 'IB-U1234567' }))).toBe(200);

    const gen = await s.h.openTask(op, 'Transfer $25,000.51');
    expect(gen).toMatchObject({ amount: '25000.51', fromAccountId: p.gen });
    // Before the transfers are reported done, the children hold nothing in the ledger.
    expect(await s.h.account(gen.toAccountId!)).toMatchObject({ balance: '0.00', status: 'forking' });
    await decide(gen.id, { decision: 'done', brokerReference: 'WIRE-1' });
    const com = await s.h.openTask(op, 'Transfer $25,000.51');
    expect(com.id).not.toBe(gen.id);
    await decide(com.id, { decision: 'done', brokerReference: 'WIRE-2' });

    await s.h.until(op, 'completed');
    expect(await s.h.account(gen.toAccountId!)).toMatchObject({ balance: '25000.51', status: 'active' });
    expect(await s.h.account(com.toAccountId!)).toMatchObject({ balance: '25000.51', status: 'active' });
    expect((await s.h.integrity(p.id)).ok).toBe(true);
  });

  it('a cancel that arrives after a step was reported done (its signal not yet seen) still undoes that step', async () => {
    const p = await forkable({ broker: 'manual' });
    const op = await s.h.startFork(p.gen);
    const open = await s.h.openTask(op, 'Open 2 account(s)');
    // The decision committed, but the workflow never heard of it (as if the API died before signalling).
    await s.db.orm.em.fork().execute(`update tasks set status = 'done', decision = 'done', broker_reference = 'LOST-SIGNAL', decided_at = now() where id = ?`, [open.id]);
    expect(await statusOf(cancel(op))).toBe(202);
    const close = await s.h.openTask(op, 'Close 2 account(s)');
    await decide(close.id, { decision: 'done', brokerReference: 'CLOSED-2' });
    expect((await s.h.waitFor(op)).status).toBe('cancelled');
    expect(await s.h.netOf(op)).toEqual([]);
    expect(await s.h.account(p.gen)).toMatchObject({ balance: '170001.02', status: 'active' });
  });

  it('a step reported failed opens a reversal task for the step before it and ends compensated once that is done', async () => {
    const p = await forkable({ broker: 'manual' });
    const op = await s.h.startFork(p.gen);
    await decide((await s.h.openTask(op, 'Open 2 account(s)')).id, { decision: 'done', brokerReference: 'IB-U7654321' });
    const transfer = await s.h.openTask(op, 'Transfer $25,000.51');
    expect(await statusOf(decision(transfer.id, { decision: 'failed', note: 'wire limit' }))).toBe(200);

    const close = await s.h.openTask(op, 'Close 2 account(s)');
    expect(close.instructions).toContain('This undoes "open-broker-accounts"');
    expect((await s.h.operation(op)).status).toBe('waiting');
    await decide(close.id, { decision: 'done', brokerReference: 'CLOSED-1' });

    const ended = await s.h.until(op, 'compensated');
    expect(ended.error?.message).toContain('wire limit');
    expect(await s.h.netOf(op)).toEqual([]);
    expect(await s.h.account(p.gen)).toMatchObject({ balance: '170001.02', status: 'active' });
    // Only the transfer that never happened has no reversal.
    const titles = (await tasksOf(p.id)).map((t) => t.title);
    expect(titles.filter((t) => t.startsWith('Transfer back'))).toEqual([]);
    expect((await s.h.integrity(p.id)).ok).toBe(true);
  });
});

describe('merge and reinvestment with a person in the loop', () => {
  it('a merge approved, then closed and transferred by hand, completes; the transfers follow the ledger move', async () => {
    const p = await forkable({});
    const forked = await s.h.forked(p.gen);
    await s.h.activity(forked.newGenAccountId, 'premium', '449998.99');
    const patched = await okWith(200, s.api.client.PATCH('/v1/portfolios/{id}/settings', { params: { path: { id: p.id } }, body: { broker: 'manual', approvals: { merge: true } } }));
    expect(patched.settings).toMatchObject({ broker: 'manual', approvals: { fork: false, merge: true, reinvestment: false } });

    const op = await s.h.startMerge(forked.newUnitId);
    const approval = await s.h.openTask(op);
    expect(approval.plan).toMatchObject({ eligible: true, total: '500000.01' });
    await decide(approval.id, { decision: 'approve' });
    const close = await s.h.openTask(op, 'Close the option positions');
    await decide(close.id, { decision: 'done', brokerReference: 'CLOSE-1' });
    const transfers: Awaited<ReturnType<typeof s.h.openTask>>[] = [];
    for (let i = 0; i < 2; i++) {
      const t = await s.h.openTask(op, 'Transfer');
      transfers.push(t);
      await decide(t.id, { decision: 'done', brokerReference: `WIRE-M${i}` });
    }
    const done = await s.h.waitFor(op);
    expect(done.status).toBe('completed');
    expect(transfers.map((t) => t.toAccountId)).toEqual([p.com, p.com]);
    expect(transfers.reduce((sum, t) => sum + Math.round(Number(t.amount) * 100), 0)).toBe(50_000_001);
    expect((await s.h.integrity(p.id)).ok).toBe(true);
  });

  it('a manual reinvestment posts the allocation only after the purchase is done; a failed purchase moves nothing', async () => {
    const p = await s.h.portfolio('300000.00', { broker: 'manual' });
    await s.h.activity(p.rev, 'premium', '20000.00');
    const op = await s.h.startReinvest(p.rev, { quarter: '2026Q3' });
    const buy = await s.h.openTask(op, 'Buy');
    expect(buy.title).toBe('Buy $14,250.00 of option contracts and $4,750.00 of LEAPS');
    expect(await s.h.netOf(op)).toEqual([]);
    await decide(buy.id, { decision: 'done', brokerReference: 'ORDER-77' });
    expect((await s.h.waitFor(op)).status).toBe('completed');
    expect((await s.h.account(p.rev)).buckets).toMatchObject({ cash: '5500.00', contracts: '99750.00', leaps: '4750.00' });

    const q = await s.h.portfolio('300000.00', { broker: 'manual' });
    await s.h.activity(q.rev, 'premium', '20000.00');
    const failed = await s.h.startReinvest(q.rev, { quarter: '2026Q3' });
    await decide((await s.h.openTask(failed, 'Buy')).id, { decision: 'failed', note: 'market closed' });
    expect((await s.h.waitFor(failed)).status).toBe('compensated');
    expect(await s.h.netOf(failed)).toEqual([]);
    const titles = (await tasksOf(q.id)).map((t) => t.title);
    expect(titles.filter((t) => t.startsWith('Sell'))).toEqual([]);
  });
});

describe('the scan and approvals', () => {
  it('does not ask again within the cooling period after a rejection', async () => {
    const p = await forkable({ approvals: { fork: true } });
    const scan = async () => (await s.h.scan({ portfolioId: p.id, kinds: ['fork'] })).result;
    const first = await scan();
    const op = first.started[0]!.operationId;
    await decide((await s.h.openTask(op)).id, { decision: 'reject' });
    await s.h.until(op, 'cancelled');
    const second = await scan();
    expect(second.started).toEqual([]);
    expect(second.skipped).toEqual([{ id: p.gen, type: 'fork', reason: 'its last fork was rejected or expired within the fork cooling period' }]);
  });
});

describe('notifications', () => {
  it('a webhook receives each event of an approved fork, signed', async () => {
    const received: { type: string; ok: boolean; data: Record<string, unknown> }[] = [];
    let secret = '';
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const body = JSON.parse(raw);
        received.push({ type: body.type, data: body.data, ok: verifySignature(secret, req.headers['alluse-signature'] as string, raw, 300) && req.headers['alluse-event-id'] === body.id });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const admin = await startTestApi(s.db.orm, s.queue, { webhookAllowedHosts: ['127.0.0.1'] });
    const dispatcher = startWebhookDispatcher({ orm: s.db.orm, log: silentLogger, config: loadConfig({ WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_RETRY_INITIAL_MS: '200' }) });
    try {
      const p = await forkable({ approvals: { fork: true } });
      const hook = await okWith(201, admin.client.POST('/v1/webhooks', {
        body: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, portfolioId: p.id,
          events: ['operation.started', 'operation.waiting', 'operation.completed', 'task.created'] },
      }));
      secret = hook.secret;
      const op = await s.h.startFork(p.gen);
      await decide((await s.h.openTask(op)).id, { decision: 'approve' });
      await s.h.waitFor(op);
      // On a timeout, the expectation below shows what did arrive.
      await eventually('the four events', async () => received.length >= 4, { timeoutMs: 20_000 }).catch(() => undefined);
      expect(received.map((r) => r.type).sort()).toEqual(['operation.completed', 'operation.started', 'operation.waiting', 'task.created']);
      expect(received.every((r) => r.ok && r.data.operationId === op)).toBe(true);
    } finally {
      await dispatcher.stop();
      await admin.close();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});
