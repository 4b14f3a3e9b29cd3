import { patched, workflowInfo } from '@temporalio/workflow';
import type { ForkContext, ForkInput, OperationResult } from '../shared/operations';
import { PATCHES } from './patches';
import { broker, db, legacyUndo, undo } from './proxies';
import { Saga } from './saga';

type Undos = typeof undo;

/** docs/domain.md section 3: a Gen-Acc's surplus opens a new unit (Gen + Com), all or nothing. */
export async function fork(input: ForkInput): Promise<OperationResult> {
  const saga = new Saga();
  const { workflowId, runId } = workflowInfo();
  const run = { workflowId, runId };
  if (patched(PATCHES.forkUndoBeforeBegin)) {
    return saga.run(async () => {
      const ctx = await saga.step('check-eligibility', () => db.forkBegin({ ...input, ...run }), (reason) => undo.forkRelease(run, reason));
      return forkSteps(saga, ctx, undo);
    });
  }
  // Runs started before the patch: the release registered after the first step, undos as local activities.
  const ctx = await saga.step('check-eligibility', () => db.forkBegin({ ...input, ...run }));
  saga.onFailure('release-parent', (reason) => legacyUndo.forkAbort(ctx, reason));
  return saga.run(() => forkSteps(saga, ctx, legacyUndo));
}

async function forkSteps(saga: Saga, ctx: ForkContext, u: Undos): Promise<OperationResult> {
  await saga.step('debit-parent', () => db.forkDebitParent(ctx), () => u.forkCreditParentBack(ctx));
  await saga.step('create-unit', () => db.forkCreateUnit(ctx), () => u.forkCloseUnit(ctx));
  await saga.step('open-broker-accounts', () => broker.forkOpenBrokerAccounts(ctx), () => u.forkCloseBrokerAccounts(ctx));
  await saga.step('broker-transfer', () => broker.forkBrokerTransfer(ctx), () => u.forkReverseBrokerTransfer(ctx));
  await saga.step('fund-children', () => db.forkFundChildren(ctx), () => u.forkDefundChildren(ctx));
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
