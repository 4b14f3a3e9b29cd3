import { v7 as uuidv7 } from 'uuid';
import { appendAudit } from '../audit/audit';
import { DomainError } from '../domain/errors';
import { formatMoney, fromDb, money } from '../domain/money';
import { type FixedStrategy, type MarketInputs, chooseDynamicStrategy, reinvestmentPlan } from '../domain/reinvest';
import { STRATEGY_NAMES, type StrategyName } from '../domain/settings';
import { type Leg, lockAccounts } from '../ledger/ledger';
import { type ReinvestContext, type ReinvestInput, stepKey } from '../shared/operations';
import { type ActivityDeps, claimEvent, portfolioContext, upsertRow } from './common';

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
  /** Plans the quarter's reinvestment on the locked account (choosing the dynamic strategy from market data) and records it. */
  async function reinvestBegin(input: ReinvestInput & { workflowId: string; runId: string }): Promise<ReinvestContext> {
    const requested = (input.strategy ?? null) as StrategyName | null;
    if (requested && !STRATEGY_NAMES.includes(requested)) throw new DomainError('ValidationError', `unknown strategy ${requested}`);
    return orm.em.fork().transactional(async (em) => {
      const [ev] = await em.execute<ReinvestRow[]>('select * from reinvestment_events where workflow_id = ? for update', [input.workflowId]);
      const claim = claimEvent(ev, input.runId);
      if (claim === 'refuse') throw new DomainError('Compensated', 'this reinvestment run was already compensated');
      if (claim.existing) return contextOf(ev!, input.workflowId);
      const { settings } = await portfolioContext(em, input.portfolioId);
      const account = (await lockAccounts(em, [input.accountId])).get(input.accountId)!;
      if (account.portfolioId !== input.portfolioId) throw new DomainError('AccountNotFound', 'account not found');
      if (account.type !== 'rev' && account.type !== 'com') throw new DomainError('NotEligible', 'only a Rev-Acc or a Com-Acc is reinvested');
      if (account.status !== 'active') throw new DomainError('NotEligible', `account is ${account.status}, not active`);

      const strategy = requested ?? settings.reinvestmentStrategy;
      let fixed: FixedStrategy;
      let regime: string | null = null;
      let marketInputs: (MarketInputs & { source: string }) | null = null;
      if (strategy === 'dynamic') {
        const inputs = await market.inputsForQuarter(input.quarter);
        const choice = chooseDynamicStrategy(inputs);
        fixed = choice.strategy;
        regime = choice.regime;
        marketInputs = { ...inputs, source: market.name };
      } else {
        fixed = strategy;
      }
      const plan = reinvestmentPlan(account.buckets, settings, fixed);
      const fields = {
        id: ev?.id ?? uuidv7(), workflow_id: input.workflowId, portfolio_id: input.portfolioId, account_id: input.accountId,
        quarter: input.quarter, reinvestable: formatMoney(plan.reinvestable), reserve: formatMoney(plan.reserve),
        contracts: formatMoney(plan.contracts), leaps: formatMoney(plan.leaps),
        strategy: strategy === 'dynamic' ? `dynamic:${fixed}` : fixed, regime, market_inputs: marketInputs, actor: input.actor,
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

  /** Moves the planned cash into contracts, LEAPS and the tax reserve. */
  async function reinvestAllocate(ctx: ReinvestContext): Promise<void> {
    const legs: Leg[] = [];
    for (const bucket of ['contracts', 'leaps', 'reserve'] as const) {
      if (!money(ctx[bucket]).isZero()) legs.push({ accountId: ctx.accountId, bucket, amount: money(ctx[bucket]) });
    }
    legs.push({ accountId: ctx.accountId, bucket: 'cash', amount: money(ctx.reinvestable).neg() });
    await ledger.post({
      idempotencyKey: key(ctx, 'allocate'),
      compensable: true,
      portfolioId: ctx.portfolioId,
      kind: 'reinvestment.allocate',
      actor: ctx.actor,
      operationId: ctx.workflowId,
      accountIds: [ctx.accountId],
      plan: () => ({ legs }),
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
    reinvestBegin, reinvestBrokerOrders, reinvestReverseBrokerOrders, reinvestAllocate, reinvestDeallocate, reinvestComplete, reinvestAbort,
  };
}
