import { patched, workflowInfo } from '@temporalio/workflow';
import type { OperationResult, ReinvestContext, ReinvestInput } from '../shared/operations';
import { reinvestPlanOf } from '../shared/start-plan';
import { PATCHES } from './patches';
import { broker, db, legacyUndo, undo } from './proxies';
import { Operator } from './operator';
import { Saga } from './saga';
import { StartPlan } from './start-plan';

/**
 * docs/domain.md section 5: one account's quarterly reinvestment of the cash
 * above its buffer. The allocation computes the amounts under the account's
 * lock; the broker orders follow exactly what it moved.
 */
export async function reinvest(input: ReinvestInput): Promise<OperationResult> {
  const saga = new Saga();
  const { workflowId, runId } = workflowInfo();
  const run = { workflowId, runId };
  if (patched(PATCHES.operatorsInTheLoop)) {
    const plan = new StartPlan();
    const op = await Operator.start('reinvestment', input.portfolioId, input.accountId);
    return plan.track(() => op.track(async () => {
      await op.approve(saga, () => db.approvalPlan({ type: 'reinvestment', input }), plan);
      return saga.run(async () => {
        const ctx = await saga.step('plan', () => db.reinvestBegin({ ...input, ...run }), (reason) => undo.reinvestRelease(run, reason));
        if (ctx.skipped) {
          plan.fix(reinvestPlanOf(ctx));
          return { status: 'skipped', steps: saga.steps, summary: summary(ctx) };
        }
        if (op.manual) {
          // A person buys at the broker first; the allocation then mirrors exactly what was bought (the planned amounts).
          plan.fix(reinvestPlanOf(ctx));
          const order = { accountId: ctx.accountId, contracts: ctx.contracts, leaps: ctx.leaps };
          await op.brokerStep(saga, 'broker-orders', { action: 'buy', ...order }, { action: 'sell', ...order });
          const planned: ReinvestContext = { ...ctx, usePlan: true };
          await saga.step('allocate', () => db.reinvestAllocate(planned), () => undo.reinvestDeallocate(planned));
          await saga.step('complete', () => db.reinvestComplete(ctx));
          return { status: 'completed', steps: saga.steps, summary: summary(ctx) };
        }
        return allocateThenOrder(saga, ctx, plan);
      });
    }));
  }
  if (patched(PATCHES.reinvestAllocateUnderLock)) {
    return saga.run(async () => {
      const ctx = await saga.step('plan', () => db.reinvestBegin({ ...input, ...run }), (reason) => undo.reinvestRelease(run, reason));
      if (ctx.skipped) return { status: 'skipped', steps: saga.steps, summary: summary(ctx) };
      return allocateThenOrder(saga, ctx);
    });
  }
  // Runs started before the patch: planned amounts (the broker orders already bought them), broker orders
  // before the allocation, undos as local activities.
  const ctx = await saga.step('plan', () => db.reinvestBegin({ ...input, ...run }));
  if (ctx.skipped) return { status: 'skipped', steps: saga.steps, summary: summary(ctx) };
  const planned: ReinvestContext = { ...ctx, usePlan: true };
  saga.onFailure('record-compensation', (reason) => legacyUndo.reinvestAbort(ctx, reason));
  return saga.run(async () => {
    await saga.step('broker-orders', () => broker.reinvestBrokerOrders(ctx), () => legacyUndo.reinvestReverseBrokerOrders(ctx));
    await saga.step('allocate', () => db.reinvestAllocate(planned), () => legacyUndo.reinvestDeallocate(ctx));
    await saga.step('complete', () => db.reinvestComplete(ctx));
    return { status: 'completed', steps: saga.steps, summary: summary(ctx) };
  });
}

/** The automatic broker: the allocation computes the amounts under the account's lock; the orders follow what it moved. */
async function allocateThenOrder(saga: Saga, ctx: ReinvestContext, plan?: StartPlan): Promise<OperationResult> {
  const allocation = await saga.step('allocate', () => db.reinvestAllocate(ctx), () => undo.reinvestDeallocate(ctx));
  const allocated: ReinvestContext = { ...ctx, ...allocation };
  plan?.fix(reinvestPlanOf(allocated));
  if (allocation.skipped) return { status: 'skipped', steps: saga.steps, summary: summary(allocated) };
  await saga.step('broker-orders', () => broker.reinvestBrokerOrders(allocated), () => undo.reinvestReverseBrokerOrders(allocated));
  await saga.step('complete', () => db.reinvestComplete(allocated));
  return { status: 'completed', steps: saga.steps, summary: summary(allocated) };
}

function summary(ctx: ReinvestContext): Record<string, unknown> {
  return {
    accountId: ctx.accountId, quarter: ctx.quarter, strategy: ctx.strategy, regime: ctx.regime, reinvestable: ctx.reinvestable,
    contracts: ctx.contracts, leaps: ctx.leaps, reserve: ctx.reserve, reason: ctx.reason,
  };
}
