import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config';
import { silentLogger } from '../../src/infra/logger';
import { startWebhookDispatcher } from '../../src/notify/dispatcher';
import { verifySignature } from '../../src/notify/signature';
import { startTestApi } from '../support/api';
import { type ProtocolStack, startProtocolStack } from '../support/stack';

jest.setTimeout(120_000);

let s: ProtocolStack;
beforeAll(async () => {
  s = await startProtocolStack();
});
afterAll(async () => {
  await s?.stop();
});

/** Polls an operation until it reaches `status` (or ends otherwise). */
async function until(operationId: string, status: string, timeoutMs = 45_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await s.api.call('GET', `/v1/operations/${operationId}`);
    if (res.status === 200 && res.body.status === status) return res.body;
    if (res.status === 200 && !['running', 'waiting'].includes(res.body.status)) throw new Error(`${operationId} ended ${res.body.status}: ${JSON.stringify(res.body.error)}`);
    if (Date.now() > deadline) throw new Error(`${operationId} still ${res.body?.status}, not ${status}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The open task of an operation once it exists. */
async function openTask(operationId: string, titlePart?: string) {
  const deadline = Date.now() + 45_000;
  for (;;) {
    const res = await s.api.call('GET', `/v1/tasks?status=open`);
    const task = res.body.items.find((t: { operationId: string; title: string }) => t.operationId === operationId && (!titlePart || t.title.includes(titlePart)));
    if (task) return task;
    if (Date.now() > deadline) throw new Error(`no open task for ${operationId}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

const decide = (taskId: string, body: Record<string, unknown>, key?: string) => s.api.call('POST', `/v1/tasks/${taskId}/decide`, { body, key });

async function forkable(settings: Record<string, unknown>) {
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
    const started = await s.api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} });
    expect(started.status).toBe(202);
    const op = started.body.operationId;

    const waiting = await until(op, 'waiting');
    expect(waiting.tasks).toHaveLength(1);
    const task = waiting.tasks[0];
    expect(task).toMatchObject({ kind: 'approval', status: 'open', operationId: op, portfolioId: p.id });
    expect(task.plan).toMatchObject({ eligible: true, surplus: '50001.02', plan: { forkAmount: '50001.02', childGen: '25000.51', childCom: '25000.51' } });
    // Nothing moved, nothing held: the parent is untouched while a person decides.
    expect(await s.h.account(p.gen)).toMatchObject({ balance: before.balance, status: 'active' });
    expect(await s.h.netOf(op)).toEqual([]);
    // The same business key cannot start twice while it waits.
    expect((await s.api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} })).status).toBe(409);

    expect((await decide(task.id, { decision: 'approve' }, s.api.keys.viewer)).status).toBe(403);
    const wrongKind = await decide(task.id, { decision: 'done', brokerReference: 'X' });
    expect(wrongKind.status).toBe(422);
    const approved = await decide(task.id, { decision: 'approve', note: 'looks right' }, s.api.keys.operator);
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'done', decision: 'approve', note: 'looks right', decidedBy: expect.stringMatching(/^api-key:/) });
    const again = await decide(task.id, { decision: 'reject' });
    expect(again.status).toBe(409);

    const done = await until(op, 'completed');
    expect(done.steps.map((x: { name: string }) => x.name)).toEqual(['approval', 'check-eligibility', 'debit-parent', 'create-unit', 'open-broker-accounts', 'broker-transfer', 'fund-children', 'complete']);
    expect((await s.api.call('GET', `/v1/tasks/${task.id}`)).body).toMatchObject({ status: 'done', decision: 'approve' });
    expect(await eventTypes(op)).toEqual(['operation.started', 'task.created', 'operation.waiting', 'operation.completed']);
    const audit = await s.api.call('GET', `/v1/audit?portfolioId=${p.id}&limit=100`);
    expect(audit.body.items.filter((a: { action: string }) => a.action === 'task.decided')).toHaveLength(1);
    expect((await s.h.integrity(p.id)).ok).toBe(true);
  });

  it('a rejection ends the operation cancelled with nothing moved', async () => {
    const p = await forkable({ approvals: { fork: true } });
    const op = (await s.api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} })).body.operationId;
    const task = await openTask(op);
    expect((await decide(task.id, { decision: 'reject', note: 'not this week' })).status).toBe(200);
    const ended = await until(op, 'cancelled');
    expect(ended.error.message).toContain('not this week');
    expect(await s.h.netOf(op)).toEqual([]);
    expect((await s.h.account(p.gen)).balance).toBe('170001.02');
    const [events] = await s.db.orm.em.fork().execute<{ n: string }[]>('select count(*) as n from forking_events where workflow_id = ?', [op]);
    expect(Number(events!.n)).toBe(0);
    expect(await eventTypes(op)).toEqual(['operation.started', 'task.created', 'operation.waiting', 'operation.cancelled']);

    // Asked again, the same business key runs again and asks again: a new run opens its own task.
    const again = await s.api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} });
    expect(again.status).toBe(202);
    expect(again.body.operationId).toBe(op);
    const second = await openTask(op);
    expect(second.id).not.toBe(task.id);
    await decide(second.id, { decision: 'approve' });
    expect((await s.h.waitFor(op)).status).toBe('completed');
  });

  it('approve checks eligibility again: a loss recorded while it waited makes it a refusal, nothing moved', async () => {
    const p = await forkable({ approvals: { fork: true } });
    const op = (await s.api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} })).body.operationId;
    const task = await openTask(op);
    await s.h.activity(p.gen, 'realized_loss', '1000.00');
    await decide(task.id, { decision: 'approve' });
    const ended = await s.h.waitFor(op);
    expect(ended.status).toBe('failed');
    expect(ended.error.type).toBe('NotEligible');
    expect(await s.h.netOf(op)).toEqual([]);
    expect(await s.h.account(p.gen)).toMatchObject({ balance: '169001.02', status: 'active' });
  });

  it('a reinvestment with nothing to invest asks no one and records its skip', async () => {
    const p = await s.h.portfolio('300000.00', { approvals: { reinvestment: true } });
    const op = (await s.api.call('POST', `/v1/accounts/${p.rev}/reinvest`, { body: { quarter: '2026Q3' } })).body.operationId;
    const ended = await s.h.waitFor(op);
    expect(ended).toMatchObject({ status: 'completed', result: { status: 'skipped' }, tasks: [] });
  });

  it('an operation waiting on a person is found by its search attribute', async () => {
    const p = await forkable({ approvals: { fork: true } });
    const op = (await s.api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} })).body.operationId;
    await openTask(op);
    const deadline = Date.now() + 30_000;
    let found: string[] = [];
    while (Date.now() < deadline && !found.includes(op)) {
      found = [];
      for await (const wf of s.api.temporal.workflow.list({ query: `AlluseOperationStatus = 'waiting' AND AllusePortfolioId = '${p.id}'` })) found.push(wf.workflowId);
      if (!found.includes(op)) await new Promise((r) => setTimeout(r, 300));
    }
    expect(found).toEqual([op]);
    const listed = await s.api.call('GET', `/v1/operations?portfolioId=${p.id}&status=waiting`);
    expect(listed.body.items.map((o: { operationId: string }) => o.operationId)).toEqual([op]);
    expect((await s.api.call('POST', `/v1/operations/${op}/cancel`)).status).toBe(202);
    await until(op, 'cancelled');
    expect((await s.api.call('GET', `/v1/tasks?portfolioId=${p.id}`)).body.items[0]).toMatchObject({ status: 'cancelled' });
  });
});

describe('manual broker', () => {
  it('turns each broker step into a task and mirrors the transfers in the ledger only after they are done', async () => {
    const p = await forkable({ broker: 'manual' });
    const op = (await s.api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} })).body.operationId;
    const open = await openTask(op, 'Open 2 account(s)');
    expect(open).toMatchObject({ kind: 'broker', status: 'open' });
    expect((await decide(open.id, { decision: 'done' })).status).toBe(400); // done needs the broker's reference
    expect((await decide(open.id, { decision: 'done', brokerReference: 'IB-U1234567' })).status).toBe(200);

    const gen = await openTask(op, 'Transfer $25,000.51');
    expect(gen).toMatchObject({ amount: '25000.51', fromAccountId: p.gen });
    // Before the transfers are reported done, the children hold nothing in the ledger.
    expect(await s.h.account(gen.toAccountId)).toMatchObject({ balance: '0.00', status: 'forking' });
    await decide(gen.id, { decision: 'done', brokerReference: 'WIRE-1' });
    const com = await openTask(op, 'Transfer $25,000.51');
    expect(com.id).not.toBe(gen.id);
    await decide(com.id, { decision: 'done', brokerReference: 'WIRE-2' });

    await until(op, 'completed');
    expect(await s.h.account(gen.toAccountId)).toMatchObject({ balance: '25000.51', status: 'active' });
    expect(await s.h.account(com.toAccountId)).toMatchObject({ balance: '25000.51', status: 'active' });
    expect((await s.h.integrity(p.id)).ok).toBe(true);
  });

  it('a cancel that arrives after a step was reported done (its signal not yet seen) still undoes that step', async () => {
    const p = await forkable({ broker: 'manual' });
    const op = (await s.api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} })).body.operationId;
    const open = await openTask(op, 'Open 2 account(s)');
    // The decision committed, but the workflow never heard of it (as if the API died before signalling).
    await s.db.orm.em.fork().execute(`update tasks set status = 'done', decision = 'done', broker_reference = 'LOST-SIGNAL', decided_at = now() where id = ?`, [open.id]);
    expect((await s.api.call('POST', `/v1/operations/${op}/cancel`)).status).toBe(202);
    const close = await openTask(op, 'Close 2 account(s)');
    await decide(close.id, { decision: 'done', brokerReference: 'CLOSED-2' });
    expect((await s.h.waitFor(op)).status).toBe('cancelled');
    expect(await s.h.netOf(op)).toEqual([]);
    expect(await s.h.account(p.gen)).toMatchObject({ balance: '170001.02', status: 'active' });
  });

  it('a step reported failed opens a reversal task for the step before it and ends compensated once that is done', async () => {
    const p = await forkable({ broker: 'manual' });
    const op = (await s.api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} })).body.operationId;
    await decide((await openTask(op, 'Open 2 account(s)')).id, { decision: 'done', brokerReference: 'IB-U7654321' });
    const transfer = await openTask(op, 'Transfer $25,000.51');
    expect((await decide(transfer.id, { decision: 'failed', note: 'wire limit' })).status).toBe(200);

    const close = await openTask(op, 'Close 2 account(s)');
    expect(close.instructions).toContain('This undoes "open-broker-accounts"');
    expect((await s.api.call('GET', `/v1/operations/${op}`)).body.status).toBe('waiting');
    await decide(close.id, { decision: 'done', brokerReference: 'CLOSED-1' });

    const ended = await until(op, 'compensated');
    expect(ended.error.message).toContain('wire limit');
    expect(await s.h.netOf(op)).toEqual([]);
    expect(await s.h.account(p.gen)).toMatchObject({ balance: '170001.02', status: 'active' });
    // Only the transfer that never happened has no reversal.
    const titles = (await s.api.call('GET', `/v1/tasks?portfolioId=${p.id}`)).body.items.map((t: { title: string }) => t.title);
    expect(titles.filter((t: string) => t.startsWith('Transfer back'))).toEqual([]);
    expect((await s.h.integrity(p.id)).ok).toBe(true);
  });
});

describe('merge and reinvestment with a person in the loop', () => {
  it('a merge approved, then closed and transferred by hand, completes; the transfers follow the ledger move', async () => {
    const p = await forkable({});
    const fork = (await s.api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} })).body.operationId;
    const forked = (await s.h.waitFor(fork)).result.summary;
    await s.h.activity(forked.newGenAccountId, 'premium', '449998.99');
    const patched = await s.api.call('PATCH', `/v1/portfolios/${p.id}/settings`, { body: { broker: 'manual', approvals: { merge: true } } });
    expect(patched.status).toBe(200);
    expect(patched.body.settings).toMatchObject({ broker: 'manual', approvals: { fork: false, merge: true, reinvestment: false } });

    const op = (await s.api.call('POST', `/v1/units/${forked.newUnitId}/merge`, { body: {} })).body.operationId;
    const approval = await openTask(op);
    expect(approval.plan).toMatchObject({ eligible: true, total: '500000.01' });
    await decide(approval.id, { decision: 'approve' });
    const close = await openTask(op, 'Close the option positions');
    await decide(close.id, { decision: 'done', brokerReference: 'CLOSE-1' });
    const transfers: { amount: string; toAccountId: string }[] = [];
    for (let i = 0; i < 2; i++) {
      const t = await openTask(op, 'Transfer');
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
    const op = (await s.api.call('POST', `/v1/accounts/${p.rev}/reinvest`, { body: { quarter: '2026Q3' } })).body.operationId;
    const buy = await openTask(op, 'Buy');
    expect(buy.title).toBe('Buy $14,250.00 of option contracts and $4,750.00 of LEAPS');
    expect(await s.h.netOf(op)).toEqual([]);
    await decide(buy.id, { decision: 'done', brokerReference: 'ORDER-77' });
    expect((await s.h.waitFor(op)).status).toBe('completed');
    expect((await s.h.account(p.rev)).buckets).toMatchObject({ cash: '5500.00', contracts: '99750.00', leaps: '4750.00' });

    const q = await s.h.portfolio('300000.00', { broker: 'manual' });
    await s.h.activity(q.rev, 'premium', '20000.00');
    const failed = (await s.api.call('POST', `/v1/accounts/${q.rev}/reinvest`, { body: { quarter: '2026Q3' } })).body.operationId;
    await decide((await openTask(failed, 'Buy')).id, { decision: 'failed', note: 'market closed' });
    expect((await s.h.waitFor(failed)).status).toBe('compensated');
    expect(await s.h.netOf(failed)).toEqual([]);
    const titles = (await s.api.call('GET', `/v1/tasks?portfolioId=${q.id}`)).body.items.map((t: { title: string }) => t.title);
    expect(titles.filter((t: string) => t.startsWith('Sell'))).toEqual([]);
  });
});

describe('the scan and approvals', () => {
  it('does not ask again within the cooling period after a rejection', async () => {
    const p = await forkable({ approvals: { fork: true } });
    const scan = async () => (await s.h.waitFor((await s.api.call('POST', '/v1/scans', { body: { portfolioId: p.id, kinds: ['fork'] } })).body.operationId)).result;
    const first = await scan();
    const op = first.started[0].operationId;
    await decide((await openTask(op)).id, { decision: 'reject' });
    await until(op, 'cancelled');
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
      const hook = await admin.call('POST', '/v1/webhooks', {
        body: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, portfolioId: p.id,
          events: ['operation.started', 'operation.waiting', 'operation.completed', 'task.created'] },
      });
      expect(hook.status).toBe(201);
      secret = hook.body.secret;
      const op = (await s.api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} })).body.operationId;
      await decide((await openTask(op)).id, { decision: 'approve' });
      await s.h.waitFor(op);
      const deadline = Date.now() + 20_000;
      while (received.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(received.map((r) => r.type).sort()).toEqual(['operation.completed', 'operation.started', 'operation.waiting', 'task.created']);
      expect(received.every((r) => r.ok && r.data.operationId === op)).toBe(true);
    } finally {
      await dispatcher.stop();
      await admin.close();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});
