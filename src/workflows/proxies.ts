import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

/** Business rejections: retrying cannot help. */
export const BUSINESS_ERRORS = [
  'ValidationError', 'NotFound', 'AccountNotFound', 'InsufficientFunds', 'WithdrawalNotAllowed', 'BufferViolation',
  'NotEligible', 'Conflict', 'IdempotencyConflict', 'InvariantViolation', 'Compensated', 'BrokerRejected',
];

/** Forward steps: bounded retries with backoff, then the saga compensates. */
export const steps = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 8, nonRetryableErrorTypes: BUSINESS_ERRORS },
});

/** Broker calls: a short timeout so a hung call is retried. */
export const brokerSteps = proxyActivities<Activities>({
  startToCloseTimeout: '10s',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 8, nonRetryableErrorTypes: BUSINESS_ERRORS },
});

/** Undos: retried until they succeed (compensation must finish), with capped backoff. */
export const undos = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  // No maximumAttempts: unlimited.
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: ['InvariantViolation'] },
});
