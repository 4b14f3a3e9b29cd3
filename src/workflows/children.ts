import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, startChild } from '@temporalio/workflow';
import type { OperationType } from '../shared/operations';
import { operationAttributes } from '../shared/search-attributes';

/**
 * Starts a protocol workflow from a scan under its business-key id, so a scan
 * and a manual request never double up: if that id is running (or done), the
 * start is refused and reported as skipped. The child outlives the scan.
 */
export async function startOperation(
  workflowType: 'fork' | 'merge' | 'reinvest',
  type: OperationType,
  workflowId: string,
  input: unknown,
  attrs: { portfolio: string; account?: string; unit?: string },
): Promise<{ started: true; result(): Promise<unknown> } | { started: false; reason: string }> {
  try {
    const handle = await startChild(workflowType, {
      workflowId,
      args: [input],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      typedSearchAttributes: operationAttributes(type, attrs),
    });
    return { started: true, result: () => handle.result() };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { started: false, reason: 'an operation with this id is already running or done' };
    throw err;
  }
}
