/**
 * The one catalogue of business errors. Activities turn them into
 * non-retryable ApplicationFailures carrying `type`; the API maps `type` to an
 * HTTP status in exactly one error handler.
 */
export const DOMAIN_ERROR_TYPES = [
  'ValidationError',
  'NotFound',
  'AccountNotFound',
  'InsufficientFunds',
  'WithdrawalNotAllowed',
  'BufferViolation',
  'NotEligible',
  'Conflict',
  'IdempotencyConflict',
  'Compensated',
  'BrokerRejected',
  'InvariantViolation',
  /** Input the engine cannot compute exactly (outside its documented limits). */
  'OutOfRange',
] as const;
export type DomainErrorType = (typeof DOMAIN_ERROR_TYPES)[number];

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
