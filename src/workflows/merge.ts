import { workflowInfo } from '@temporalio/workflow';
import type { MergeInput, OperationResult } from '../shared/operations';
import { brokerSteps, steps, undos } from './proxies';
import { Saga } from './saga';

/** DOMAIN.md section 4: a forked unit's whole balance moves into its parent unit's Com-Acc, all or nothing. */
export async function merge(input: MergeInput): Promise<OperationResult> {
  const saga = new Saga();
  const { workflowId, runId } = workflowInfo();
  const ctx = await saga.step('check-eligibility', () => steps.mergeBegin({ ...input, workflowId, runId }));
  saga.onFailure('release-unit', (reason) => undos.mergeAbort(ctx, reason));
  return saga.run(async () => {
    await saga.step('broker-close-positions', () => brokerSteps.mergeBrokerClosePositions(ctx), () => undos.mergeBrokerReopenPositions(ctx));
    await saga.step('close-positions', () => steps.mergeClosePositions(ctx), () => undos.mergeReopenPositions(ctx));
    await saga.step('broker-transfer', () => brokerSteps.mergeBrokerTransfer(ctx), () => undos.mergeReverseBrokerTransfer(ctx));
    await saga.step('move-balances', () => steps.mergeMoveBalances(ctx), () => undos.mergeMoveBack(ctx));
    await saga.step('complete', () => steps.mergeComplete(ctx));
    return {
      status: 'completed',
      steps: saga.steps,
      summary: { unitId: ctx.unitId, targetAccountId: ctx.targetAccountId, targetUnitId: ctx.targetUnitId, total: ctx.total, sources: ctx.sources },
    };
  });
}
