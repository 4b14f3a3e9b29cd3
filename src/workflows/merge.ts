import { CancellationScope, patched, workflowInfo } from '@temporalio/workflow';
import type { MergeContext, MergeInput, OperationResult } from '../shared/operations';
import { mergePlanOf } from '../shared/start-plan';
import { PATCHES } from './patches';
import { broker, db, legacyUndo, undo, untilDone } from './proxies';
import { Operator } from './operator';
import { Saga } from './saga';
import { StartPlan } from './start-plan';

const isZero = (amount: string) => /^-?0*(\.0*)?$/.test(amount);

/**
 * docs/domain.md section 4: a forked unit's whole balance moves into the
 * Com-Acc of its nearest active ancestor unit, all or nothing. The move
 * decides the target under its locks; the broker transfer follows it.
 */
export async function merge(input: MergeInput): Promise<OperationResult> {
  const saga = new Saga();
  const { workflowId, runId } = workflowInfo();
  const run = { workflowId, runId };
  if (patched(PATCHES.operatorsInTheLoop)) {
    const plan = new StartPlan();
    const op = await Operator.start('merge', input.portfolioId, input.unitId);
    return plan.track(() => op.track(async () => {
      await op.approve(saga, () => db.approvalPlan({ type: 'merge', input }), plan);
      return saga.run(async () => {
        const ctx = await saga.step('check-eligibility', () => db.mergeBegin({ ...input, ...run }), (reason) => undo.mergeRelease(run, reason));
        plan.fix(mergePlanOf(ctx));
        return mergeSteps(saga, ctx, op);
      });
    }));
  }
  if (patched(PATCHES.mergeTargetUnderLock)) {
    return saga.run(async () => {
      const ctx = await saga.step('check-eligibility', () => db.mergeBegin({ ...input, ...run }), (reason) => undo.mergeRelease(run, reason));
      return mergeSteps(saga, ctx);
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

/** After the first step: close positions, move the money (the point of no return), then the broker transfer. */
async function mergeSteps(saga: Saga, ctx: MergeContext, op?: Operator): Promise<OperationResult> {
  const positions = ctx.sources.filter((s) => !isZero(s.closePositions)).map((s) => ({ accountId: s.accountId, amount: s.closePositions }));
  if (!op?.manual) {
    await saga.step('broker-close-positions', () => broker.mergeBrokerClosePositions(ctx), () => undo.mergeBrokerReopenPositions(ctx));
  } else if (positions.length) {
    await op.brokerStep(saga, 'broker-close-positions', { action: 'close-positions', positions }, { action: 'reopen-positions', positions });
  }
  await saga.step('close-positions', () => db.mergeClosePositions(ctx), () => undo.mergeReopenPositions(ctx));
  const target = await saga.step('move-balances', () => db.mergeMoveBalances(ctx), () => undo.mergeMoveBack(ctx));
  const moved = { ...ctx, ...target };
  // The point of no return: the money is in the target, whose own unit may merge on from here, so a
  // move back could no longer be posted. The rest only goes forward, retried until done, not cancellable.
  // With a manual broker each transfer is a task that must be done (a `failed` report opens it again).
  saga.pivot();
  return CancellationScope.nonCancellable(async () => {
    if (op?.manual) {
      await saga.step('broker-transfer', async () => {
        for (const s of moved.sources.filter((x) => !isZero(x.amount))) {
          await op.untilDone(`transfer-${s.accountId}`, { action: 'transfer', fromAccountId: s.accountId, toAccountId: moved.targetAccountId, amount: s.amount });
        }
      });
    } else {
      await saga.step('broker-transfer', () => untilDone.mergeSettleBrokerTransfer(moved));
    }
    await saga.step('complete', () => untilDone.mergeFinish(moved));
    return summary(saga, moved);
  });
}

function summary(saga: Saga, ctx: MergeContext): OperationResult {
  return {
    status: 'completed',
    steps: saga.steps,
    summary: { unitId: ctx.unitId, targetAccountId: ctx.targetAccountId, targetUnitId: ctx.targetUnitId, total: ctx.total, sources: ctx.sources },
  };
}
