import type { Client } from '@temporalio/client';
import { createActivities, type Activities } from '../../src/activities';
import { PaperBroker } from '../../src/broker/paper';
import { loadConfig } from '../../src/config';
import { ok } from '../../src/client';
import { formatMoney, money } from '../../src/domain/money';
import { LedgerService } from '../../src/ledger/ledger';
import { SyntheticMarketData } from '../../src/market/provider';
import { engineSchedules } from '../../src/schedules';
import { ProtocolService } from '../../src/services/protocols';
import { type MergeResult, type ReinvestResult, refused } from '../support/engine';
import { useProtocolStack } from '../support/stack';

/**
 * One test per money defect found in review: each failed on the code before
 * its fix. Steps are held at chosen points (gates) to force the interleavings
 * that lost track of money.
 */
/** Activities held until released, keyed by activity name and a predicate on their first argument. */
const gates: { name: keyof Activities; when: (arg: Record<string, unknown>) => boolean; reached: () => void; release: Promise<void> }[] = [];

function gate(name: keyof Activities, when: (arg: Record<string, unknown>) => boolean) {
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const arrived = new Promise<void>((r) => (reached = r));
  gates.push({ name, when, reached, release: released });
  return { arrived, release };
}

function gated(real: Activities): Activities {
  return Object.fromEntries(
    Object.entries(real).map(([name, fn]) => [
      name,
      async (...args: unknown[]) => {
        const g = gates.find((x) => x.name === name && x.when(args[0] as Record<string, unknown>));
        if (g) {
          g.reached();
          await g.release;
        }
        return (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      },
    ]),
  ) as Activities;
}

const { db, api, h } = useProtocolStack({ wrapActivities: gated });
afterEach(() => {
  gates.length = 0;
});

const sql = <T>(query: string, params: unknown[] = []) => db.orm.em.fork().execute<T[]>(query, params);

/** Small thresholds so a three-level tree is quick to build: root -> unit A -> unit B. */
const SMALL = { forkThreshold: '1000.00', mergeThreshold: '5000.00', forkCoolingHours: 0, mergeCoolingHours: 0, maxForksPerDay: 100 };

async function threeLevels() {
  const p = await h.portfolio('300000.00', SMALL);
  await h.activity(p.gen, 'premium', '2000.00');
  const a = await h.forked(p.gen);
  await h.activity(a.newGenAccountId, 'premium', '2000.00');
  const b = await h.forked(a.newGenAccountId);
  // Both units over the merge threshold.
  await h.activity(a.newGenAccountId, 'premium', '6000.00');
  await h.activity(b.newGenAccountId, 'premium', '6000.00');
  return { p, a, b };
}

const balancesOf = async (portfolioId: string) =>
  sql<{ id: string; status: string; balance: string; reserve: string }>(
    `select id, status, balance, reserve from accounts where portfolio_id = ? and unit_id is not null`, [portfolioId],
  );

async function expectAllMoneyInActiveAccounts(portfolioId: string) {
  for (const a of await balancesOf(portfolioId)) {
    if (a.status !== 'active') expect({ id: a.id, status: a.status, balance: a.balance }).toEqual({ id: a.id, status: a.status, balance: '0.00' });
  }
  const integrity = await h.integrity(portfolioId);
  expect(integrity.checks.find((c) => c.name === 'no-money-outside-active-accounts')).toMatchObject({ ok: true });
  expect(integrity.ok).toBe(true);
}

describe('defect 1: a parent and its child merging at once', () => {
  it('child begins first, parent merges and completes before the child moves: the child lands in the root, nothing in a merged account', async () => {
    const { p, a, b } = await threeLevels();
    const total = (await h.tree(p.id)).totals.balance;
    const held = gate('mergeMoveBalances', (ctx) => ctx.unitId === b.newUnitId);
    const child = await h.startMerge(b.newUnitId);
    await held.arrived;
    expect((await h.merge(a.newUnitId)).status).toBe('completed');
    held.release();
    const childOp = await h.waitFor<MergeResult>(child);
    expect(childOp.status).toBe('completed');
    expect(childOp.result.summary.targetAccountId).toBe(p.com);

    expect((await h.tree(p.id)).totals.balance).toBe(total);
    await expectAllMoneyInActiveAccounts(p.id);
    const [target] = await sql<{ target_account_id: string }>('select target_account_id from merging_events where workflow_id = ?', [child]);
    expect(target!.target_account_id).toBe(p.com);
  });

  it('parent begins first, the child moves in between: both complete (the parent no longer compensates)', async () => {
    const { p, a, b } = await threeLevels();
    const held = gate('mergeMoveBalances', (ctx) => ctx.unitId === a.newUnitId);
    const parent = await h.startMerge(a.newUnitId);
    await held.arrived;
    expect((await h.merge(b.newUnitId)).status).toBe('completed');
    held.release();
    expect((await h.waitFor(parent)).status).toBe('completed');
    await expectAllMoneyInActiveAccounts(p.id);
    // Everything above the root's opening ended in the root Com-Acc.
    const root = Object.fromEntries((await balancesOf(p.id)).filter((x) => [p.gen, p.rev, p.com].includes(x.id)).map((x) => [x.id, x.balance]));
    // 90000.00 + unit A (7000.00 + 1000.00) + unit B (7000.00 + 1000.00).
    expect(root[p.com]).toBe('106000.00');
  });

  it('one scan starts both merges and all money ends in active accounts', async () => {
    const { p } = await threeLevels();
    const scan = await h.scan({ portfolioId: p.id, kinds: ['merge'] });
    expect(scan.result.started).toHaveLength(2);
    for (const s of scan.result.started) expect((await h.waitFor(s.operationId)).status).toBe('completed');
    await expectAllMoneyInActiveAccounts(p.id);
    expect((await h.account(p.com)).balance).toBe('106000.00');
  });

  it('the integrity check fails when a merged account holds money, and the ledger refuses to post to one', async () => {
    const { p, a } = await threeLevels();
    expect((await h.merge(a.newUnitId)).status).toBe('completed');
    const ledger = new LedgerService(db.orm);
    const [ext] = await sql<{ id: string }>(`select id from accounts where portfolio_id = ? and type = 'external'`, [p.id]);
    await expect(ledger.post({
      idempotencyKey: `test:${a.newComAccountId}`, portfolioId: p.id, kind: 'premium', actor: 'test', accountIds: [a.newComAccountId, ext!.id],
      plan: () => ({ legs: [{ accountId: a.newComAccountId, bucket: 'cash', amount: money('1.00') }, { accountId: ext!.id, bucket: 'cash', amount: money('1.00').neg() }] }),
    })).rejects.toMatchObject({ type: 'InvariantViolation' });
    // Money put into the merged Com-Acc behind the ledger's back is caught.
    await sql(`update accounts set cash = cash + 5 where id = ?`, [a.newComAccountId]);
    const integrity = await h.integrity(p.id);
    expect(integrity.checks.find((c) => c.name === 'no-money-outside-active-accounts')).toMatchObject({ ok: false });
    expect(integrity.ok).toBe(false);
  });
});

describe('defect 3: a withdrawal while a reinvestment runs', () => {
  it('computes the amounts under the lock when the money moves, so cash never falls below the buffer', async () => {
    const p = await h.portfolio();
    await h.activity(p.rev, 'premium', '10000.00');
    const held = gate('reinvestAllocate', (ctx) => ctx.accountId === p.rev);
    const started = await h.startReinvest(p.rev, { quarter: '2026Q3' });
    await held.arrived;
    // Planned: 9500.00 above the buffer. The operator withdraws 4000.00 meanwhile (201, or the helper throws).
    await h.activity(p.rev, 'withdrawal', '4000.00', { idempotencyKey: 'w-during-reinvest' });
    held.release();
    const op = await h.waitFor<ReinvestResult>(started);
    expect(op.status).toBe('completed');
    const acct = await h.account(p.rev);
    // Cash 10500.00 of a 96000.00 balance; the 5% buffer (4800.00) stays, 5700.00 is reinvested 75/25.
    expect(acct.buckets).toEqual({ cash: '4800.00', contracts: '89775.00', leaps: '1425.00', reserve: '0.00' });
    expect(op.result.summary).toMatchObject({ reinvestable: '5700.00', contracts: '4275.00', leaps: '1425.00' });
    const orders = await sql<{ kind: string; amount: string }>(
      `select kind, amount from broker_orders where account_id = ? and status = 'filled' order by amount desc`, [p.rev],
    );
    expect(orders.map((o) => o.amount)).toEqual(['4275.00', '1425.00']);
    const [ev] = await sql<{ reinvestable: string; contracts: string; leaps: string }>('select reinvestable, contracts, leaps from reinvestment_events where workflow_id = ?', [op.operationId]);
    expect(ev).toEqual({ reinvestable: '5700.00', contracts: '4275.00', leaps: '1425.00' });
    expect((await h.integrity(p.id)).ok).toBe(true);
  });

  it('ends skipped when the reinvestable cash fell below the minimum meanwhile', async () => {
    const p = await h.portfolio();
    await h.activity(p.rev, 'premium', '1500.00');
    const held = gate('reinvestAllocate', (ctx) => ctx.accountId === p.rev);
    const started = await h.startReinvest(p.rev, { quarter: '2026Q3' });
    await held.arrived;
    await h.activity(p.rev, 'withdrawal', '1000.00', { idempotencyKey: 'w-skip' });
    held.release();
    const op = await h.waitFor<ReinvestResult>(started);
    expect(op.status).toBe('completed');
    expect(op.result.status).toBe('skipped');
    const [ev] = await sql<{ status: string; reason: string }>('select status, reason from reinvestment_events where workflow_id = ?', [op.operationId]);
    expect(ev!.status).toBe('skipped');
    expect(ev!.reason).toMatch(/below the minimum 1000\.00/);
    expect(await h.netOf(op.operationId)).toEqual([]);
    expect((await h.integrity(p.id)).ok).toBe(true);
  });
});

describe('defect 4: forks per day', () => {
  const deps = (now: Date) => ({
    orm: db.orm, ledger: new LedgerService(db.orm), broker: new PaperBroker(db.orm), market: new SyntheticMarketData(), now: () => now,
  });

  it('two forks begun at the same moment never take the portfolio past its limit', async () => {
    const begin = (portfolioId: string, accountId: string) =>
      createActivities(deps(new Date())).forkBegin({ accountId, portfolioId, seq: 10, trigger: 'manual', actor: 'test', workflowId: `fork-${accountId}-10`, runId: 'r' })
        .then(() => 'started', (e: { type?: string }) => e.type);
    // Each round: one fork done today, room for one more, two Gen-Accs eligible, both begun at once.
    for (let round = 0; round < 4; round++) {
      const p = await h.portfolio('300000.00', { ...SMALL, maxForksPerDay: 2 });
      await h.activity(p.gen, 'premium', '2000.00');
      const a = await h.forked(p.gen);
      await h.activity(p.gen, 'premium', '2000.00');
      await h.activity(a.newGenAccountId, 'premium', '2000.00');
      const outcomes = await Promise.all([begin(p.id, p.gen), begin(p.id, a.newGenAccountId)]);
      expect(outcomes.sort()).toEqual(['NotEligible', 'started']);
      const [count] = await sql<{ n: string }>(`select count(*) as n from forking_events where portfolio_id = ? and status in ('started', 'completed')`, [p.id]);
      expect(count!.n).toBe('2');
    }
  });

  it('counts "today" in the portfolio time zone', async () => {
    const p = await h.portfolio('300000.00', { ...SMALL, maxForksPerDay: 1, timezone: 'America/New_York' });
    await h.activity(p.gen, 'premium', '2000.00');
    const op = await h.fork(p.gen);
    // That fork happened at 02:00 UTC on 29 November: 21:00 on 28 November in New York. The account is older.
    await sql(`update forking_events set started_at = '2026-11-29T02:00:00Z' where workflow_id = ?`, [op.operationId]);
    await sql(`update accounts set created_at = '2026-01-01T00:00:00Z', last_fork_at = '2026-11-29T02:00:00Z' where id = ?`, [p.gen]);
    await h.activity(p.gen, 'premium', '2000.00');
    const protocols = (now: string) => new ProtocolService(db.orm, {} as Client, { taskQueue: 'unused', market: new SyntheticMarketData(), now: () => new Date(now) });
    const dry = async (now: string) => (await protocols(now).fork(p.gen, { dryRun: true }, 'test')).result as { eligible: boolean; reasons: string[] };
    // 12:00 UTC on 29 November is 07:00 in New York: a new day there, although the same UTC day.
    expect(await dry('2026-11-29T12:00:00Z')).toMatchObject({ eligible: true });
    // 03:00 UTC on 29 November is still 28 November in New York: the limit is reached.
    expect((await dry('2026-11-29T03:00:00Z')).reasons).toContain('the portfolio reached its forks-per-day limit (1 of 1 today)');
    await ok(api.client.PATCH('/v1/portfolios/{id}/settings', { params: { path: { id: p.id } }, body: { timezone: 'UTC' } }));
    expect((await dry('2026-11-29T12:00:00Z')).reasons).toContain('the portfolio reached its forks-per-day limit (1 of 1 today)');
  });

  it('refuses an unknown time zone', async () => {
    const res = await refused(h.portfolio('1000.00', { timezone: 'Mars/Olympus' }));
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.problem.errors)).toMatch(/IANA time zone/);
  });
});

describe('a reinvestment and a merge of the same unit', () => {
  it('refuses to merge a unit while a reinvestment of one of its accounts runs', async () => {
    const p = await h.portfolio('300000.00', { ...SMALL, mergeThreshold: '60000.00' });
    await h.activity(p.gen, 'premium', '2000.00');
    const a = await h.forked(p.gen);
    await h.activity(a.newComAccountId, 'premium', '10000.00');
    await h.activity(a.newGenAccountId, 'premium', '60000.00');
    const held = gate('reinvestAllocate', (ctx) => ctx.accountId === a.newComAccountId);
    const reinvest = await h.startReinvest(a.newComAccountId, { quarter: '2026Q3' });
    await held.arrived;
    const merge = await refused(h.startMerge(a.newUnitId));
    expect(merge.status).toBe(422);
    expect(merge.problem.reasons).toContain('a reinvestment of an account of the unit is running');
    held.release();
    expect((await h.waitFor(reinvest)).status).toBe('completed');
    expect((await h.merge(a.newUnitId)).status).toBe('completed');
    expect((await h.integrity(p.id)).ok).toBe(true);
  });
});

describe('defect 5: a merge keeps the tax reserve a reserve', () => {
  it('moves the reserve into the target reserve, and only positions into cash', async () => {
    const p = await h.portfolio('300000.00', { ...SMALL, taxReservePct: '0.3', mergeThreshold: '60000.00' });
    await h.activity(p.gen, 'premium', '2000.00');
    const a = await h.forked(p.gen);
    await h.activity(a.newComAccountId, 'premium', '10000.00');
    expect((await h.reinvest(a.newComAccountId, { quarter: '2026Q3' })).status).toBe('completed');
    const com = await h.account(a.newComAccountId);
    expect(com.buckets.reserve).not.toBe('0.00');
    await h.activity(a.newGenAccountId, 'premium', '60000.00');
    const rootBefore = await h.account(p.com);
    const merge = await h.merge(a.newUnitId);
    expect(merge.status).toBe('completed');
    const rootAfter = await h.account(p.com);
    expect(rootAfter.buckets.reserve).toBe(formatMoney(money(rootBefore.buckets.reserve).plus(com.buckets.reserve)));
    expect(com.buckets.reserve).toBe('2850.00');
    expect(rootAfter.buckets.contracts).toBe(rootBefore.buckets.contracts);
    expect((await h.integrity(p.id)).ok).toBe(true);
  });
});

describe('defect 2: the quarter closes on the reinvestment calendar', () => {
  it('the quarterly schedule passes its own time zone to the workflow', () => {
    const config = loadConfig({ REINVEST_TIMEZONE: 'Europe/Berlin', NODE_ENV: 'test' });
    const quarterly = engineSchedules(config).find((s) => s.scheduleId === 'alluse-quarterly-reinvestment')!;
    expect(quarterly.spec.timezone).toBe('Europe/Berlin');
    expect(quarterly.action).toMatchObject({ args: [{ timeZone: 'Europe/Berlin' }] });
  });

  it('an on-demand reinvestment defaults to the quarter closed in REINVEST_TIMEZONE', async () => {
    const p = await h.portfolio();
    const at = (tz: string) => new ProtocolService(db.orm, {} as Client, {
      taskQueue: 'unused', market: new SyntheticMarketData(), reinvestTimezone: tz, now: () => new Date('2026-06-30T23:00:00Z'),
    });
    expect((await at('Europe/Berlin').reinvest(p.rev, { dryRun: true }, 'test')).result).toMatchObject({ quarter: '2026Q2' });
    expect((await at('UTC').reinvest(p.rev, { dryRun: true }, 'test')).result).toMatchObject({ quarter: '2026Q1' });
  });
});
