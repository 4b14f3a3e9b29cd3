/**
 * Workflow changes behind `patched()`. A run started before a change replays
 * its old path; a new run takes the new one. Remove a patch (keep only the new
 * path, then `deprecatePatch`) only once no run that started before it is
 * still open. The replay test keeps a history recorded before each change.
 *
 * The `plan` update (start-plan.ts) came without a patch: a handler issues no
 * command, so runs from before it replay unchanged. Its answers are in the
 * histories since, though: where a run fixes its plan (each `plan.fix`) decides
 * in which workflow task the update completes, so moving one is a workflow
 * change that needs a patch like any other, and so is removing the handler.
 */
export const PATCHES = {
  /** The first step's release is registered before the step runs (a begin that committed but never reported back is undone). */
  forkUndoBeforeBegin: 'fork-undo-before-begin',
  /** As above, and the merge target is decided by the move under its locks; the broker transfer follows it. */
  mergeTargetUnderLock: 'merge-target-under-lock',
  /** As above, and the amounts are computed by the allocation under the account's lock; the broker orders follow it. */
  reinvestAllocateUnderLock: 'reinvest-allocate-under-lock',
  /** Operators in the loop: operator settings read at the start, approvals, manual broker tasks, lifecycle events. */
  operatorsInTheLoop: 'operators-in-the-loop',
} as const;
