import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, Response } from 'express';
import { ZodError } from 'zod';
import { type DomainErrorType, isDomainError } from '../domain/errors';
import type { Logger } from '../infra/logger';

export interface ProblemField {
  path: string;
  message: string;
}

/** An HTTP failure raised by the API layer itself (auth, headers, ids). */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Content',
  429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

/** The one mapping from business error types to HTTP statuses. */
const STATUS_OF: Record<DomainErrorType, number> = {
  ValidationError: 400,
  NotFound: 404,
  AccountNotFound: 404,
  InsufficientFunds: 422,
  WithdrawalNotAllowed: 422,
  BufferViolation: 422,
  NotEligible: 422,
  Conflict: 409,
  IdempotencyConflict: 409,
  Compensated: 409,
  BrokerRejected: 422,
  InvariantViolation: 500,
  OutOfRange: 422,
};

export function sendProblem(
  res: Response,
  status: number,
  detail: string,
  extra: Record<string, unknown> = {},
  type = 'about:blank',
): void {
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify({ type, title: TITLES[status] ?? 'Error', status, detail, ...extra }));
}

export const zodFields = (err: ZodError): ProblemField[] =>
  err.issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));

const kib = (bytes: number) => (bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${bytes / 1024} KiB`);

/** RFC 9457 problem documents for every failure; internals only in the log. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) return;
    if (err instanceof HttpProblem) return sendProblem(res, err.status, err.detail, err.extra);
    if (err instanceof ZodError) {
      return sendProblem(res, 400, 'the request is invalid', { errors: zodFields(err) });
    }
    if (isDomainError(err) && err.type !== 'InvariantViolation') {
      const errors = typeof err.details.path === 'string' ? [{ path: err.details.path, message: err.message }] : undefined;
      // Only these details are public: the running operation's id and the business reasons.
      const { operationId, reasons } = err.details as { operationId?: string; reasons?: string[] };
      return sendProblem(res, STATUS_OF[err.type], err.message, { code: err.type, ...(errors && { errors }), ...(operationId && { operationId }), ...(reasons && { reasons }) },
        `urn:alluse:problem:${err.type}`);
    }
    const bodyErr = err as { type?: string; status?: number; limit?: number };
    if (bodyErr.type === 'entity.parse.failed') return sendProblem(res, 400, 'the request body is not valid JSON');
    if (bodyErr.type === 'entity.too.large') return sendProblem(res, 413, `the request body is larger than ${kib(bodyErr.limit ?? 65536)}`);
    if (bodyErr.type === 'encoding.unsupported' || bodyErr.type === 'charset.unsupported') {
      return sendProblem(res, 415, 'unsupported content encoding or charset');
    }
    if (typeof bodyErr.status === 'number' && bodyErr.status >= 400 && bodyErr.status < 500) {
      return sendProblem(res, bodyErr.status, 'the request could not be read');
    }
    const errorId = randomUUID();
    log.error('unhandled error', { errorId, method: req.method, path: req.path, error: String((err as Error)?.stack ?? err) });
    sendProblem(res, 500, `an internal error occurred; reference ${errorId}`, { errorId });
  };
}
