import { ActivityCancellationType, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { DOMAIN_ERROR_TYPES } from '../domain/errors';

/** Business rejections: retrying cannot help. Every type of the domain's error catalogue. */
export const BUSINESS_ERRORS: string[] = [...DOMAIN_ERROR_TYPES];

/*
 * Steps in our own database run as local activities: each is one short,
 * idempotent PostgreSQL transaction, so it runs in the worker without a
 * server round trip (about 50 ms per step on the dev server; see
 * docs/performance.md). Their results are recorded as markers when the
 * workflow task completes; a worker that dies in between re-runs them on
 * recovery, which the idempotency keys make harmless. Broker calls leave our
 * system and may be slow, so they stay regular activities: the server tracks
 * them, times them out, and a cancellation is seen while one is in flight.
 */

/** Database steps: bounded retries with backoff, then the saga compensates. */
export const db = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 8, nonRetryableErrorTypes: BUSINESS_ERRORS },
});

/** Broker calls: a short timeout so a hung call is retried. */
export const broker = proxyActivities<Activities>({
  startToCloseTimeout: '10s',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 8, nonRetryableErrorTypes: BUSINESS_ERRORS },
});

/**
 * Undos, and the steps after a saga's point of no return: retried until they
 * succeed, with capped backoff. These activities throw every failure as
 * retryable and log an ALERT per failed attempt; no error type stops the
 * retries. Regular activities, so retrying for hours or days adds nothing to
 * the history (the server keeps the attempt count; the Temporal UI shows the
 * pending activity with its last failure).
 */
export const untilDone = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5m' },
});
export const undo = untilDone;

/** Local-activity undos, as runs started before the `PATCHES` scheduled them (their histories record them so). */
export const legacyUndo = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '30s' },
});

/**
 * Tasks and lifecycle events: short database steps that must happen (a lost
 * `operation.completed` would be a silent notification gap), retried until
 * they succeed, as local activities (no server round trip per operation).
 */
export const ensure = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '30s' },
});
