import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../src/activities';
import { injectBrokerFault } from '../../src/broker/paper';
import { statusOf } from '../support/engine';
import { useProtocolStack } from '../support/stack';

/**
 * Fails each step of each workflow in turn and asserts the compensated end
 * state: ledger net zero for the operation, accounts active with their
 * balances, the event `compensated` with its reason, integrity ok.
 */
/** The activity to fail, and whether it fails after doing its work (its effects must be undone) or before; `entered` is told when it starts. */
const fault: { step?: keyof Activities; when?: 'before' | 'after'; delayMs?: number; entered?: () => void } = {};

function faulty(real: Activities): Activities {
  const wrapped = Object.entries(real).map(([name, fn]) => [
    name,
    async (...args: unknown[]) => {
      if (fault.step === name) fault.entered?.();
      if (fault.step === name && fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault.step === name && fault.when === 'before') throw ApplicationFailure.nonRetryable(`injected failure before ${name}`, 'InjectedFault');
      const result = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      if (fault.step === name && fault.when === 'after') throw ApplicationFailure.nonRetryable(`injected failure after ${name}`, 'InjectedFault');
      return result;
    },
  ]);
  return Object.fromEntries(wrapped) as Activities;
}

const { db, api, h } = useProtocolStack({ wrapActivities: faulty });
afterEach(() => {
  delete fault.step;
  delete fault.when;
  delete fault.delayMs;
  delete fault.entered;
});

const cancel = (operationId: string, client = api.client) =>
  client.POST('/v1/operations/{operationId}/cancel', { params: { path: { operationId } } });

/** A portfolio with a forked unit of exactly $500,000.00: ready to merge. */
const forkedUnitAt500k = async () => {
  const p = await h.portfolio();
  await h.activity(p.gen, 'premium', '50001.01');
  const forked = await h.forked(p.gen);
  await h.activity(forked.newGenAccountId, 'premium', '449998.99');
  return { p, forked };
};

const eventRow = async (table: string, workflowId: string) =>
  (await db.orm.em.fork().execute<{ status: string; reason?: string; error?: string; attempt: number }[]>(`select * from ${table} where workflow_id = ?`, [workflowId]))[0]!;

describe('fork compensation', () => {
  it.each([
    ['forkDebitParent', 'after'],
    ['forkCreateUnit', 'after'],
    ['forkOpenBrokerAccounts', 'after'],
    ['forkBrokerTransfer', 'after'],
    ['forkFundChildren', 'after'],
    ['forkComplete', 'before'],
  ] as const)('undoes everything when %s fails (%s its work)', async (step, when) => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');
    Object.assign(fault, { step, when });
    const op = await h.fork(p.gen);

    expect(op.status).toBe('compensated');
    expect(op.error?.message).toContain(`injected failure ${when} ${step}`);
    expect(op.steps.filter((s) => s.name.startsWith('undo:')).every((s) => s.status === 'compensated')).toBe(true);
    expect(await h.netOf(op.operationId)).toEqual([]);
    expect(await h.account(p.gen)).toMatchObject({ balance: '170001.01', baseBalance: '120000.00', status: 'active' });
    const ev = await eventRow('forking_events', op.operationId);
    expect(ev.status).toBe('compensated');
    expect(ev.reason).toContain(step);
    const tree = await h.tree(p.id);
    expect(tree.totals).toEqual({ balance: '350001.01', inFlight: '0.00' });
    for (const unit of tree.units.filter((u) => u.kind === 'forked')) {
      expect(unit.status).toBe('closed');
      expect(unit.accounts.every((a) => a.balance === '0.00' && a.status === 'closed')).toBe(true);
    }
    const [settled] = await db.orm.em.fork().execute<{ n: string }[]>(
      `select count(*) as n from broker_transfers where idempotency_key like ? and status = 'settled'`, [`fork:${p.gen}:%`],
    );
    expect(settled!.n).toBe('0');
    expect((await h.integrity(p.id)).ok).toBe(true);

    // The operator's retry (a new request) forks exactly once.
    delete fault.step;
    const retry = await h.startFork(p.gen);
    expect(retry).toBe(`fork-${p.gen}-2`);
    expect((await h.waitFor(retry)).status).toBe('completed');
    expect(await h.account(p.gen)).toMatchObject({ balance: '120000.00', baseBalance: '120000.00' });
    expect((await h.integrity(p.id)).ok).toBe(true);
  });

  it('compensates a cancelled fork', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');
    Object.assign(fault, { step: 'forkBrokerTransfer', delayMs: 1500 });
    const started = await h.startFork(p.gen);
    await new Promise((r) => setTimeout(r, 700));
    expect(await statusOf(cancel(started, api.as('operator')))).toBe(202);
    const op = await h.waitFor(started);
    expect(op.status).toBe('cancelled');
    expect(await h.netOf(op.operationId)).toEqual([]);
    expect(await h.account(p.gen)).toMatchObject({ balance: '170001.01', status: 'active' });
    expect((await eventRow('forking_events', op.operationId)).reason).toBe('cancelled by an operator');
    expect((await h.integrity(p.id)).ok).toBe(true);
    expect(await statusOf(cancel(started))).toBe(409);
  });

  it('retries a broker outage and compensates a broker rejection (paper broker fault injection)', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');
    await injectBrokerFault(db.orm, 'transferCash', 2, 'error');
    expect((await h.fork(p.gen)).status).toBe('completed');

    const q = await h.portfolio();
    await h.activity(q.gen, 'premium', '50001.01');
    await injectBrokerFault(db.orm, 'transferCash', 1, 'reject');
    const op = await h.fork(q.gen);
    expect(op.status).toBe('compensated');
    expect(op.error?.message).toMatch(/rejected transferCash/);
    expect(await h.netOf(op.operationId)).toEqual([]);
    expect((await h.integrity(q.id)).ok).toBe(true);
  });
});

describe('merge compensation', () => {
  it.each([
    ['mergeBegin', 'after'],
    ['mergeBrokerClosePositions', 'after'],
    ['mergeClosePositions', 'after'],
    ['mergeMoveBalances', 'after'],
  ] as const)('undoes everything when %s fails (%s its work)', async (step, when) => {
    const { p, forked } = await forkedUnitAt500k();
    const genBefore = await h.account(forked.newGenAccountId);
    const comBefore = await h.account(forked.newComAccountId);
    Object.assign(fault, { step, when });
    const op = await h.merge(forked.newUnitId);

    expect(op.status).toBe('compensated');
    expect(await h.netOf(op.operationId)).toEqual([]);
    const genAfter = await h.account(forked.newGenAccountId);
    expect(genAfter).toMatchObject({ status: 'active', balance: genBefore.balance, buckets: genBefore.buckets, baseBalance: genBefore.baseBalance });
    expect(await h.account(forked.newComAccountId)).toMatchObject({ status: 'active', buckets: comBefore.buckets });
    expect((await h.account(p.com)).balance).toBe('90000.00');
    expect((await eventRow('merging_events', op.operationId)).status).toBe('compensated');
    expect((await h.integrity(p.id)).ok).toBe(true);

    // The operator's retry runs the same operation id again (a failed run may be re-run) as attempt 2, exactly once.
    delete fault.step;
    expect((await h.merge(forked.newUnitId)).status).toBe('completed');
    expect((await eventRow('merging_events', op.operationId)).attempt).toBe(2);
    expect((await h.account(p.com)).balance).toBe('590000.00');
    expect((await h.integrity(p.id)).ok).toBe(true);
  });
});

describe('merge after its point of no return', () => {
  it('retries the broker transfer after the move until it succeeds, never moving the money back', async () => {
    const { p, forked } = await forkedUnitAt500k();
    // A broker rejection before the move compensates; after it, the transfer is retried.
    await injectBrokerFault(db.orm, 'transferCash', 3, 'reject');
    const op = await h.merge(forked.newUnitId);
    expect(op.status).toBe('completed');
    expect(op.steps.some((s) => s.name.startsWith('undo:'))).toBe(false);
    const [left] = await db.orm.em.fork().execute<{ remaining: number }[]>(`select remaining from paper_broker_faults where operation = 'transferCash'`);
    expect(Number(left!.remaining)).toBe(0);
    expect((await h.account(p.com)).balance).toBe('590000.00');
    expect((await h.integrity(p.id)).ok).toBe(true);
  });
});

describe('reinvestment compensation', () => {
  it.each([
    ['reinvestBrokerOrders', 'after'],
    ['reinvestAllocate', 'after'],
    ['reinvestComplete', 'before'],
  ] as const)('undoes everything when %s fails (%s its work), and a retry reinvests once', async (step, when) => {
    const p = await h.portfolio();
    await h.activity(p.rev, 'premium', '10000.00');
    const before = await h.account(p.rev);
    Object.assign(fault, { step, when });
    const op = await h.reinvest(p.rev, { quarter: '2026Q3' });
    expect(op.status).toBe('compensated');
    expect(await h.netOf(op.operationId)).toEqual([]);
    expect((await h.account(p.rev)).buckets).toEqual(before.buckets);
    expect((await eventRow('reinvestment_events', op.operationId)).status).toBe('compensated');

    delete fault.step;
    expect((await h.reinvest(p.rev, { quarter: '2026Q3' })).status).toBe('completed');
    expect((await h.account(p.rev)).buckets).toEqual({ cash: '5000.00', contracts: '92625.00', leaps: '2375.00', reserve: '0.00' });
    expect((await h.integrity(p.id)).ok).toBe(true);
  });
});

describe('the first step and the undos', () => {
  it('releases the parent when forkBegin committed its hold and then reported a failure', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');
    Object.assign(fault, { step: 'forkBegin', when: 'after' });
    const op = await h.fork(p.gen);
    expect(op.status).toBe('compensated');
    expect(op.steps.find((s) => s.name === 'undo:check-eligibility')).toMatchObject({ status: 'compensated' });
    expect(await h.account(p.gen)).toMatchObject({ balance: '170001.01', status: 'active' });
    expect((await eventRow('forking_events', op.operationId)).status).toBe('compensated');
    expect((await h.integrity(p.id)).ok).toBe(true);
  });

  it('releases the parent when a fork is cancelled during its first step', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');
    const entered = new Promise<void>((resolve) => Object.assign(fault, { step: 'forkBegin', delayMs: 1500, entered: resolve }));
    // The 202 waits for the run's plan, which its first step fixes: cancel while that step runs, then take the answer.
    const start = h.startFork(p.gen);
    await entered;
    const started = `fork-${p.gen}-1`;
    expect(await statusOf(cancel(started, api.as('operator')))).toBe(202);
    expect(await start).toBe(started);
    const op = await h.waitFor(started);
    expect(op.status).toBe('cancelled');
    expect(await h.netOf(op.operationId)).toEqual([]);
    expect(await h.account(p.gen)).toMatchObject({ balance: '170001.01', status: 'active' });
    // The begin did run (and held the parent) before the release undid it.
    expect((await eventRow('forking_events', op.operationId)).status).toBe('compensated');
    expect((await h.integrity(p.id)).ok).toBe(true);
  });

  it('releases the unit when mergeBegin committed its hold and then reported a failure', async () => {
    const { p, forked } = await forkedUnitAt500k();
    Object.assign(fault, { step: 'mergeBegin', when: 'after' });
    const op = await h.merge(forked.newUnitId);
    expect(op.status).toBe('compensated');
    expect(await h.account(forked.newGenAccountId)).toMatchObject({ status: 'active' });
    expect(await h.account(forked.newComAccountId)).toMatchObject({ status: 'active' });
    expect((await eventRow('merging_events', op.operationId)).status).toBe('compensated');
    expect((await h.integrity(p.id)).ok).toBe(true);
  });

  it('records the compensation when reinvestBegin committed and then reported a failure', async () => {
    const p = await h.portfolio();
    await h.activity(p.rev, 'premium', '10000.00');
    Object.assign(fault, { step: 'reinvestBegin', when: 'after' });
    const op = await h.reinvest(p.rev, { quarter: '2026Q3' });
    expect(op.status).toBe('compensated');
    expect((await eventRow('reinvestment_events', op.operationId)).status).toBe('compensated');
    expect(await h.netOf(op.operationId)).toEqual([]);
  });

  it('retries a failing undo until it succeeds: a broker that rejects the reversal three times', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');
    await injectBrokerFault(db.orm, 'transferCash', 1, 'reject');
    await injectBrokerFault(db.orm, 'reverseTransfer', 3, 'reject');
    const op = await h.fork(p.gen);
    expect(op.status).toBe('compensated');
    expect(op.steps.filter((s) => s.name.startsWith('undo:')).every((s) => s.status === 'compensated')).toBe(true);
    const [left] = await db.orm.em.fork().execute<{ remaining: number }[]>(`select remaining from paper_broker_faults where operation = 'reverseTransfer'`);
    expect(Number(left!.remaining)).toBe(0);
    expect(await h.netOf(op.operationId)).toEqual([]);
    expect(await h.account(p.gen)).toMatchObject({ balance: '170001.01', status: 'active' });
    expect((await h.integrity(p.id)).ok).toBe(true);
  });
});
