import { workflowInfo } from '@temporalio/workflow';
import type { OperationResult, ReinvestInput } from '../shared/operations';
import { brokerSteps, steps, undos } from './proxies';
import { Saga } from './saga';

/** DOMAIN.md section 5: one account's quarterly reinvestment of the cash above its buffer. */
export async function reinvest(input: ReinvestInput): Promise<OperationResult> {
  const saga = new Saga();
  const { workflowId, runId } = workflowInfo();
  const ctx = await saga.step('plan', () => steps.reinvestBegin({ ...input, workflowId, runId }));
  const summary = {
    accountId: ctx.accountId, quarter: ctx.quarter, strategy: ctx.strategy, regime: ctx.regime, reinvestable: ctx.reinvestable,
    contracts: ctx.contracts, leaps: ctx.leaps, reserve: ctx.reserve, reason: ctx.reason,
  };
  if (ctx.skipped) return { status: 'skipped', steps: saga.steps, summary };
  saga.onFailure('record-compensation', (reason) => undos.reinvestAbort(ctx, reason));
  return saga.run(async () => {
    await saga.step('broker-orders', () => brokerSteps.reinvestBrokerOrders(ctx), () => undos.reinvestReverseBrokerOrders(ctx));
    await saga.step('allocate', () => steps.reinvestAllocate(ctx), () => undos.reinvestDeallocate(ctx));
    await saga.step('complete', () => steps.reinvestComplete(ctx));
    return { status: 'completed', steps: saga.steps, summary };
  });
}
