import { ApplicationFailure, CancellationScope, isCancellation, proxyActivities, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { BatchProgress, ImportInput, ImportResult, StepRecord } from '../shared/operations';
import { progressQuery } from '../shared/queries';
import { BUSINESS_ERRORS } from './proxies';

/** Activity lines per batch: one transaction and one activity each. */
export const IMPORT_BATCH_LINES = 500;

/**
 * Batches are regular activities (not local): each is seen in the Temporal
 * UI with its result. A batch is one transaction over lines that are pending
 * until it commits, so a retry after a crash posts exactly what had not been
 * posted. The activities heartbeat every few seconds while they run: a batch
 * whose worker died is retried on another within the heartbeat timeout.
 */
const imports = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 20, nonRetryableErrorTypes: BUSINESS_ERRORS },
});

/** An atomic import posts the whole file in one transaction: a 20 MiB file may take minutes. */
const wholeFile = proxyActivities<Activities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5, nonRetryableErrorTypes: BUSINESS_ERRORS },
});

/** The API starts the run just before it commits the import: `begin` waits (a few minutes at most) for it to be visible. */
const begin = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 14, nonRetryableErrorTypes: BUSINESS_ERRORS },
});

/** The last step reads every line and reconciles: it does not heartbeat, so it has no heartbeat timeout. */
const finishing = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 20, nonRetryableErrorTypes: BUSINESS_ERRORS },
});

/** Marking a failed import must happen: retried until it does. */
const mustFinish = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/**
 * Posts a stored statement's lines in batches (or, atomic, all in one
 * transaction), then records valuations, reconciles the statement balances
 * and emits `import.completed`. Progress: the `progress` query (the API's
 * operation view) and the run's current details in the Temporal UI. A run
 * that fails leaves its import `failed` with the reason; every batch it
 * committed stays posted (and a new import of the file posts only the rest).
 */
export async function importStatement(input: ImportInput): Promise<ImportResult> {
  const steps: StepRecord[] = [];
  setHandler(progressQuery, () => ({ steps }));
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const record: StepRecord = { name, status: 'running', at: new Date().toISOString() };
    steps.push(record);
    try {
      const result = await fn();
      record.status = 'completed';
      return result;
    } catch (err) {
      record.status = 'failed';
      throw err;
    }
  };

  try {
    await step('begin', () => begin.importBegin(input.importId));
    if (input.atomic) {
      const r = await step('post every line (all or nothing)', () => wholeFile.importPostAll(input.importId));
      setCurrentDetails(r.committed ? 'every line posted' : `refused: ${r.rejected} line(s) rejected, nothing posted`);
    } else {
      let processed = 0;
      let after = 0;
      for (;;) {
        const r: BatchProgress = await imports.importPostBatch({ importId: input.importId, after, limit: IMPORT_BATCH_LINES });
        processed += r.processed;
        after = r.cursor;
        if (r.processed > 0) steps.push({ name: `post lines ${r.firstLine}-${r.lastLine}`, status: 'completed', at: new Date().toISOString() });
        setCurrentDetails(`${processed} activity line(s) processed, ${r.remaining} to go`);
        if (r.remaining === 0 || r.processed === 0) break;
      }
    }
    const summary = await step('reconcile and finish', () => finishing.importFinish(input.importId));
    setCurrentDetails(`${summary.status}: ${summary.posted} posted, ${summary.duplicates} duplicate(s), ${summary.rejected} rejected, ${summary.ignored} ignored`);
    return { status: summary.status, lines: summary.lines, posted: summary.posted, duplicates: summary.duplicates, rejected: summary.rejected, ignored: summary.ignored, steps };
  } catch (err) {
    // Marked even when the run was cancelled (the marking itself must not be); what committed stays posted.
    const message = isCancellation(err) ? 'cancelled by an operator' : err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    await CancellationScope.nonCancellable(() => mustFinish.importFailed({ importId: input.importId, error: `the import stopped: ${message}` }));
    setCurrentDetails(`failed: ${message}`);
    if (isCancellation(err)) throw err;
    throw ApplicationFailure.nonRetryable(`the import stopped: ${message}`, 'ImportFailed');
  }
}
