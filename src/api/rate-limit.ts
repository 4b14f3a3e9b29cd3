import type { RequestHandler } from 'express';
import type { Logger } from '../infra/logger';
import type { Principal } from '../services/api-keys';
import type { RateLimitService } from '../services/rate-limits';
import { sendProblem } from './errors';

/**
 * A token bucket per API key, shared by every API process through PostgreSQL
 * (RateLimitService): `perMinute` requests a minute with bursts of the same
 * size. Over the limit: 429 with Retry-After, logged. When the buckets cannot
 * be read (PostgreSQL unreachable) the request is refused with 503 rather than
 * let through unlimited.
 */
export function rateLimit(limits: RateLimitService, perMinute: number, log: Logger): RequestHandler {
  return async (req, res, next) => {
    const principal = res.locals.principal as Principal | undefined;
    if (!principal) return next();
    let verdict: Awaited<ReturnType<RateLimitService['take']>>;
    try {
      verdict = await limits.take(principal.keyId, perMinute);
    } catch (err) {
      log.error('rate limit unavailable', { keyId: principal.keyId, method: req.method, path: req.path, error: (err as Error).message });
      res.setHeader('Retry-After', '1');
      return sendProblem(res, 503, 'the service is unavailable for a moment: try again shortly');
    }
    if (!verdict.allowed) {
      log.warn('rate limit exceeded', { keyId: principal.keyId, method: req.method, path: req.path });
      res.setHeader('Retry-After', String(verdict.retryAfterSeconds));
      return sendProblem(res, 429, `rate limit of ${perMinute} requests per minute exceeded for this API key`);
    }
    next();
  };
}
