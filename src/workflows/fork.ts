import { patched, workflowInfo } from '@temporalio/workflow';
import type { ForkContext, ForkInput, OperationResult } from '../shared/operations';
import { PATCHES } from './patches';
import { broker, db, undo } from './proxies';
import { Saga } from './saga';

/** docs/domain.md section 3: a Gen-Acc's surplus opens a new unit (Gen + Com), all or nothing. */
export async function fork(input: ForkInput): Promise<OperationResult> {
  const saga = new Saga();
  const { workflowId, runId } = workflowInfo();
  const run = { workflowId, runId };
  if (patched(PATCHES.forkUndoBeforeBegin)) {
    return saga.run(async () => {
      const ctx = await saga.step('check-eligibility', () => db.forkBegin({ ...input, ...run }), (reason) => undo.forkRelease(run, reason));
      return forkSteps(saga, ctx);
    });
  }
  // Runs started before the patch: the release was registered after the first step.
  const ctx = await saga.step('check-eligibility', () => db.forkBegin({ ...input, ...run }));
  saga.onFailure('release-parent', (reason) => undo.forkAbort(ctx, reason));
  return saga.run(() => forkSteps(saga, ctx));
}

async function forkSteps(saga: Saga, ctx: ForkContext): Promise<OperationResult> {
  await saga.step('debit-parent', () => db.forkDebitParent(ctx), () => undo.forkCreditParentBack(ctx));
  await saga.step('create-unit', () => db.forkCreateUnit(ctx), () => undo.forkCloseUnit(ctx));
  await saga.step('open-broker-accounts', () => broker.forkOpenBrokerAccounts(ctx), () => undo.forkCloseBrokerAccounts(ctx));
  await saga.step('broker-transfer', () => broker.forkBrokerTransfer(ctx), () => undo.forkReverseBrokerTransfer(ctx));
  await saga.step('fund-children', () => db.forkFundChildren(ctx), () => undo.forkDefundChildren(ctx));
  await saga.step('complete', () => db.forkComplete(ctx));
  return {
    status: 'completed',
    steps: saga.steps,
    summary: {
      parentAccountId: ctx.parentAccountId, newUnitId: ctx.newUnitId, newGenAccountId: ctx.newGenAccountId,
      newComAccountId: ctx.newComAccountId, surplus: ctx.surplus, retained: ctx.retained, forkAmount: ctx.forkAmount,
      childGen: ctx.childGen, childCom: ctx.childCom,
    },
  };
}
