/**
 * The one catalogue of business errors. Activities turn them into
 * non-retryable ApplicationFailures carrying `type`; the API maps `type` to an
 * HTTP status in exactly one error handler.
 */
export type DomainErrorType =
  | 'ValidationError'
  | 'NotFound'
  | 'AccountNotFound'
  | 'InsufficientFunds'
  | 'WithdrawalNotAllowed'
  | 'BufferViolation'
  | 'NotEligible'
  | 'Conflict'
  | 'IdempotencyConflict'
  | 'Compensated'
  | 'BrokerRejected'
  | 'InvariantViolation';

export class DomainError extends Error {
  constructor(
    readonly type: DomainErrorType,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = type;
  }
}

export const isDomainError = (e: unknown): e is DomainError => e instanceof DomainError;
