import { patched, workflowInfo } from '@temporalio/workflow';
import type { OperationResult, ReinvestContext, ReinvestInput } from '../shared/operations';
import { PATCHES } from './patches';
import { broker, db, legacyUndo, undo } from './proxies';
import { Saga } from './saga';

/**
 * docs/domain.md section 5: one account's quarterly reinvestment of the cash
 * above its buffer. The allocation computes the amounts under the account's
 * lock; the broker orders follow exactly what it moved.
 */
export async function reinvest(input: ReinvestInput): Promise<OperationResult> {
  const saga = new Saga();
  const { workflowId, runId } = workflowInfo();
  const run = { workflowId, runId };
  if (patched(PATCHES.reinvestAllocateUnderLock)) {
    return saga.run(async () => {
      const ctx = await saga.step('plan', () => db.reinvestBegin({ ...input, ...run }), (reason) => undo.reinvestRelease(run, reason));
      if (ctx.skipped) return { status: 'skipped', steps: saga.steps, summary: summary(ctx) };
      const allocation = await saga.step('allocate', () => db.reinvestAllocate(ctx), () => undo.reinvestDeallocate(ctx));
      const allocated: ReinvestContext = { ...ctx, ...allocation };
      if (allocation.skipped) return { status: 'skipped', steps: saga.steps, summary: summary(allocated) };
      await saga.step('broker-orders', () => broker.reinvestBrokerOrders(allocated), () => undo.reinvestReverseBrokerOrders(allocated));
      await saga.step('complete', () => db.reinvestComplete(allocated));
      return { status: 'completed', steps: saga.steps, summary: summary(allocated) };
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

function summary(ctx: ReinvestContext): Record<string, unknown> {
  return {
    accountId: ctx.accountId, quarter: ctx.quarter, strategy: ctx.strategy, regime: ctx.regime, reinvestable: ctx.reinvestable,
    contracts: ctx.contracts, leaps: ctx.leaps, reserve: ctx.reserve, reason: ctx.reason,
  };
}
