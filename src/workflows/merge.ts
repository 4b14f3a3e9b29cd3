import { CancellationScope, patched, workflowInfo } from '@temporalio/workflow';
import type { MergeContext, MergeInput, OperationResult } from '../shared/operations';
import { PATCHES } from './patches';
import { broker, db, legacyUndo, undo, untilDone } from './proxies';
import { Saga } from './saga';

/**
 * docs/domain.md section 4: a forked unit's whole balance moves into the
 * Com-Acc of its nearest active ancestor unit, all or nothing. The move
 * decides the target under its locks; the broker transfer follows it.
 */
export async function merge(input: MergeInput): Promise<OperationResult> {
  const saga = new Saga();
  const { workflowId, runId } = workflowInfo();
  const run = { workflowId, runId };
  if (patched(PATCHES.mergeTargetUnderLock)) {
    return saga.run(async () => {
      const ctx = await saga.step('check-eligibility', () => db.mergeBegin({ ...input, ...run }), (reason) => undo.mergeRelease(run, reason));
      await saga.step('broker-close-positions', () => broker.mergeBrokerClosePositions(ctx), () => undo.mergeBrokerReopenPositions(ctx));
      await saga.step('close-positions', () => db.mergeClosePositions(ctx), () => undo.mergeReopenPositions(ctx));
      const target = await saga.step('move-balances', () => db.mergeMoveBalances(ctx), () => undo.mergeMoveBack(ctx));
      const moved = { ...ctx, ...target };
      // The point of no return: the money is in the target, whose own unit may merge on from here, so a
      // move back could no longer be posted. The rest only goes forward, retried until done, not cancellable.
      saga.pivot();
      return CancellationScope.nonCancellable(async () => {
        await saga.step('broker-transfer', () => untilDone.mergeSettleBrokerTransfer(moved));
        await saga.step('complete', () => untilDone.mergeFinish(moved));
        return summary(saga, moved);
      });
    });
  }
  // Runs started before the patch: release registered after the first step, broker transfer before the move,
  // the target fixed when the merge began, undos as local activities.
  const ctx = await saga.step('check-eligibility', () => db.mergeBegin({ ...input, ...run }));
  const fixed: MergeContext = { ...ctx, targetFixed: true };
  saga.onFailure('release-unit', (reason) => legacyUndo.mergeAbort(ctx, reason));
  return saga.run(async () => {
    await saga.step('broker-close-positions', () => broker.mergeBrokerClosePositions(ctx), () => legacyUndo.mergeBrokerReopenPositions(ctx));
    await saga.step('close-positions', () => db.mergeClosePositions(ctx), () => legacyUndo.mergeReopenPositions(ctx));
    await saga.step('broker-transfer', () => broker.mergeBrokerTransfer(ctx), () => legacyUndo.mergeReverseBrokerTransfer(ctx));
    await saga.step('move-balances', () => db.mergeMoveBalances(fixed), () => legacyUndo.mergeMoveBack(ctx));
    await saga.step('complete', () => db.mergeComplete(ctx));
    return summary(saga, ctx);
  });
}

function summary(saga: Saga, ctx: MergeContext): OperationResult {
  return {
    status: 'completed',
    steps: saga.steps,
    summary: { unitId: ctx.unitId, targetAccountId: ctx.targetAccountId, targetUnitId: ctx.targetUnitId, total: ctx.total, sources: ctx.sources },
  };
}
