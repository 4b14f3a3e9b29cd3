import { v7 as uuidv7 } from 'uuid';
import { appendAudit } from '../audit/audit';
import { DomainError } from '../domain/errors';
import { loadReinvestFacts } from '../db/facts';
import { formatMoney, fromDb, money } from '../domain/money';
import {
  type FixedStrategy, type ReinvestmentPlan, STRATEGY_SPLITS, chooseStrategy, reinvestEligibility, reinvestmentPlan, strategyLabel,
} from '../domain/reinvest';
import { STRATEGY_NAMES, type StrategyName } from '../domain/settings';
import type { Leg } from '../ledger/ledger';
import { type ReinvestAllocation, type ReinvestContext, type ReinvestInput, type RunRef, stepKey } from '../shared/operations';
import { type ActivityDeps, claimEvent, upsertRow } from './common';

interface ReinvestRow {
  id: string; portfolio_id: string; account_id: string; quarter: string; attempt: number; run_id: string; status: string;
  actor: string; strategy: string; regime: string | null; reinvestable: string; reserve: string; contracts: string; leaps: string;
  reason: string | null;
}

const key = (c: ReinvestContext, step: string) => stepKey(`reinvest:${c.accountId}:${c.quarter}`, c.attempt, step);

const contextOf = (r: ReinvestRow, workflowId: string): ReinvestContext => ({
  workflowId, eventId: r.id, portfolioId: r.portfolio_id, accountId: r.account_id, quarter: r.quarter, attempt: r.attempt,
  actor: r.actor, skipped: r.status === 'skipped', reason: r.reason ?? undefined, strategy: r.strategy, regime: r.regime ?? undefined,
  reinvestable: formatMoney(fromDb(r.reinvestable)), reserve: formatMoney(fromDb(r.reserve)),
  contracts: formatMoney(fromDb(r.contracts)), leaps: formatMoney(fromDb(r.leaps)),
});

export function createReinvestActivities({ orm, ledger, broker, market }: ActivityDeps) {
  /**
   * Checks the account, chooses the strategy (the dynamic one from market
   * data) and records the event with a preview of the amounts; the amounts
   * that move are computed again by the allocation, under the account's lock.
   */
  async function reinvestBegin(input: ReinvestInput & { workflowId: string; runId: string }): Promise<ReinvestContext> {
    const requested = (input.strategy ?? null) as StrategyName | null;
    if (requested && !STRATEGY_NAMES.includes(requested)) throw new DomainError('ValidationError', `unknown strategy ${requested}`);
    return orm.em.fork().transactional(async (em) => {
      const [ev] = await em.execute<ReinvestRow[]>('select * from reinvestment_events where workflow_id = ? for update', [input.workflowId]);
      const claim = claimEvent(ev, input.runId);
      if (claim === 'refuse') throw new DomainError('Compensated', 'this reinvestment run was already compensated');
      if (claim.existing) return contextOf(ev!, input.workflowId);
      const { account, settings } = await loadReinvestFacts(em, input.accountId, { lock: true });
      if (account.portfolioId !== input.portfolioId) throw new DomainError('AccountNotFound', 'account not found');
      const reasons = reinvestEligibility(account);
      if (reasons.length) throw new DomainError('NotEligible', reasons.join('; '), { reasons });

      const strategy = requested ?? settings.reinvestmentStrategy;
      const inputs = strategy === 'dynamic' ? await market.inputsForQuarter(input.quarter) : null;
      const choice = chooseStrategy(strategy, inputs);
      const plan = reinvestmentPlan(account.buckets, settings, choice.strategy);
      const fields = {
        id: ev?.id ?? uuidv7(), workflow_id: input.workflowId, portfolio_id: input.portfolioId, account_id: input.accountId,
        quarter: input.quarter, reinvestable: formatMoney(plan.reinvestable), reserve: formatMoney(plan.reserve),
        contracts: formatMoney(plan.contracts), leaps: formatMoney(plan.leaps),
        strategy: strategyLabel(choice), regime: choice.regime, market_inputs: inputs && { ...inputs, source: market.name }, actor: input.actor,
        status: plan.skipped ? 'skipped' : 'started', reason: plan.reason ?? null, run_id: input.runId, attempt: claim.attempt,
        completed_at: plan.skipped ? new Date() : null,
      };
      await upsertRow(em, 'reinvestment_events', fields, ev !== undefined);
      await appendAudit(em, {
        actor: input.actor, portfolioId: input.portfolioId, action: plan.skipped ? 'reinvestment.skipped' : 'reinvestment.started',
        targetType: 'account', targetId: input.accountId,
        details: { workflowId: input.workflowId, quarter: input.quarter, strategy: fields.strategy, reinvestable: fields.reinvestable, reason: plan.reason },
      });
      return contextOf(fields as unknown as ReinvestRow, input.workflowId);
    });
  }

  /** The undo of reinvestBegin, registered before it runs: records the compensation of whatever this run started. */
  async function reinvestRelease(run: RunRef, reason: string): Promise<void> {
    const [ev] = await orm.em.fork().execute<ReinvestRow[]>(
      `select * from reinvestment_events where workflow_id = ? and status = 'started'`, [run.workflowId],
    );
    if (ev) await reinvestAbort(contextOf(ev, run.workflowId), reason);
  }

  async function reinvestBrokerOrders(ctx: ReinvestContext): Promise<void> {
    for (const [bucket, amount] of [['contracts', ctx.contracts], ['leaps', ctx.leaps]] as const) {
      if (money(amount).isZero()) continue;
      await broker.placeOrder({ key: key(ctx, `buy-${bucket}`), accountId: ctx.accountId, kind: 'buy', amount });
    }
  }

  async function reinvestReverseBrokerOrders(ctx: ReinvestContext): Promise<void> {
    await broker.reverseOrder({ key: key(ctx, 'buy-leaps') });
    await broker.reverseOrder({ key: key(ctx, 'buy-contracts') });
  }

  /**
   * Moves the cash above the buffer into contracts, LEAPS and the tax reserve.
   * The amounts are computed here, from the balances under the account's lock,
   * so activity accepted since the plan can never leave cash below the
   * buffer. Below the minimum now, the reinvestment ends skipped. The event
   * records what moved; a retry returns the same amounts.
   */
  async function reinvestAllocate(ctx: ReinvestContext): Promise<ReinvestAllocation> {
    return orm.em.fork().transactional(async (em) => {
      // The event first (the order reinvestBegin locks in): a retry after a committed skip returns that skip.
      const [ev] = await em.execute<ReinvestRow[]>('select * from reinvestment_events where id = ? for update', [ctx.eventId]);
      if (ev?.status === 'skipped') return { skipped: true, reason: ev.reason ?? undefined, ...amountsOf(contextOf(ev, ctx.workflowId)) };
      if (ev?.status !== 'started') throw new DomainError('Compensated', `the reinvestment is ${ev?.status ?? 'unknown'}, not started`);
      const { settings } = await loadReinvestFacts(em, ctx.accountId);
      const strategy = fixedStrategyOf(ctx.strategy);
      let plan: ReinvestmentPlan | undefined;
      const posted = await ledger.postIn(em, {
        idempotencyKey: key(ctx, 'allocate'),
        compensable: true,
        portfolioId: ctx.portfolioId,
        kind: 'reinvestment.allocate',
        actor: ctx.actor,
        operationId: ctx.workflowId,
        accountIds: [ctx.accountId],
        plan: (locked) => {
          const account = locked.get(ctx.accountId)!;
          // A merge that began meanwhile holds the account: its money is no longer this reinvestment's to move.
          if (account.status !== 'active') throw new DomainError('NotEligible', `account is ${account.status}; the reinvestment stops`);
          plan = ctx.usePlan ? plannedOf(ctx, strategy) : reinvestmentPlan(account.buckets, settings, strategy);
          if (plan.skipped) throw new SkipAllocation(plan.reason!);
          return { legs: allocationLegs(ctx.accountId, plan) };
        },
      }).catch((err: unknown) => {
        if (err instanceof SkipAllocation) return err;
        throw err;
      });
      if (posted instanceof SkipAllocation) {
        await em.execute(
          `update reinvestment_events set status = 'skipped', reason = ?, reinvestable = ?, reserve = 0, contracts = 0, leaps = 0,
             completed_at = now() where id = ? and status = 'started'`,
          [posted.message, formatMoney(plan!.reinvestable), ctx.eventId],
        );
        await appendAudit(em, {
          actor: ctx.actor, portfolioId: ctx.portfolioId, action: 'reinvestment.skipped', targetType: 'account', targetId: ctx.accountId,
          details: { workflowId: ctx.workflowId, quarter: ctx.quarter, reason: posted.message },
        });
        return { skipped: true, reason: posted.message, reinvestable: formatMoney(plan!.reinvestable), reserve: '0.00', contracts: '0.00', leaps: '0.00' };
      }
      // A retry after the allocation committed: the event holds what moved.
      if (!posted.created) return { skipped: false, ...amountsOf(contextOf(ev, ctx.workflowId)) };
      const amounts = {
        reinvestable: formatMoney(plan!.reinvestable), reserve: formatMoney(plan!.reserve),
        contracts: formatMoney(plan!.contracts), leaps: formatMoney(plan!.leaps),
      };
      await em.execute(
        'update reinvestment_events set reinvestable = ?, reserve = ?, contracts = ?, leaps = ? where id = ?',
        [amounts.reinvestable, amounts.reserve, amounts.contracts, amounts.leaps, ctx.eventId],
      );
      return { skipped: false, ...amounts };
    });
  }

  async function reinvestDeallocate(ctx: ReinvestContext): Promise<void> {
    await ledger.reverse({ forwardKey: key(ctx, 'allocate'), actor: ctx.actor, operationId: ctx.workflowId });
  }

  async function reinvestComplete(ctx: ReinvestContext): Promise<void> {
    await orm.em.fork().transactional(async (em) => {
      const done = await em.execute<{ id: string }[]>(
        `update reinvestment_events set status = 'completed', completed_at = now() where id = ? and status = 'started' returning id`, [ctx.eventId],
      );
      if (done.length === 0) return;
      await appendAudit(em, {
        actor: ctx.actor, portfolioId: ctx.portfolioId, action: 'reinvestment.completed', targetType: 'account', targetId: ctx.accountId,
        details: { workflowId: ctx.workflowId, quarter: ctx.quarter, contracts: ctx.contracts, leaps: ctx.leaps, reserve: ctx.reserve },
      });
    });
  }

  async function reinvestAbort(ctx: ReinvestContext, reason: string): Promise<void> {
    await orm.em.fork().transactional(async (em) => {
      const aborted = await em.execute<{ id: string }[]>(
        `update reinvestment_events set status = 'compensated', reason = ?, completed_at = now() where id = ? and status = 'started' returning id`,
        [reason.slice(0, 2000), ctx.eventId],
      );
      if (aborted.length) {
        await appendAudit(em, { actor: ctx.actor, portfolioId: ctx.portfolioId, action: 'reinvestment.compensated', targetType: 'account', targetId: ctx.accountId, details: { workflowId: ctx.workflowId, reason } });
      }
    });
  }

  return {
    steps: { reinvestBegin, reinvestBrokerOrders, reinvestAllocate, reinvestComplete },
    undos: { reinvestReverseBrokerOrders, reinvestDeallocate, reinvestAbort, reinvestRelease },
  };
}

/** Thrown inside the ledger plan to end the transaction without posting: the reinvestable cash fell below the minimum. */
class SkipAllocation extends Error {}

/** The fixed strategy of a recorded label (`standard`, `dynamic:aggressive`). */
function fixedStrategyOf(label: string): FixedStrategy {
  const fixed = label.replace(/^dynamic:/, '') as FixedStrategy;
  if (!(fixed in STRATEGY_SPLITS)) throw new DomainError('InvariantViolation', `unknown recorded strategy ${label}`);
  return fixed;
}

function allocationLegs(accountId: string, plan: ReinvestmentPlan): Leg[] {
  const legs: Leg[] = [];
  for (const bucket of ['contracts', 'leaps', 'reserve'] as const) {
    if (!plan[bucket].isZero()) legs.push({ accountId, bucket, amount: plan[bucket] });
  }
  legs.push({ accountId, bucket: 'cash', amount: plan.reinvestable.neg() });
  return legs;
}

const amountsOf = (c: ReinvestContext) => ({ reinvestable: c.reinvestable, reserve: c.reserve, contracts: c.contracts, leaps: c.leaps });

/** The amounts recorded when the run began, as a plan (runs started before the allocation computed them). */
function plannedOf(ctx: ReinvestContext, strategy: FixedStrategy): ReinvestmentPlan {
  return {
    reinvestable: money(ctx.reinvestable), reserve: money(ctx.reserve), contracts: money(ctx.contracts), leaps: money(ctx.leaps),
    strategy, skipped: false,
  };
}
