import type { RequestHandler } from 'express';
import type { Logger } from '../infra/logger';
import type { Principal } from '../services/api-keys';
import { sendProblem } from './errors';

/**
 * A token bucket per API key (in memory, per API process): `perMinute`
 * requests a minute with bursts of the same size. Over the limit: 429 with
 * Retry-After, logged.
 */
export function rateLimit(perMinute: number, log: Logger, now: () => number = () => Date.now()): RequestHandler {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const refillPerMs = perMinute / 60_000;
  return (req, res, next) => {
    const principal = res.locals.principal as Principal | undefined;
    if (!principal) return next();
    const t = now();
    const b = buckets.get(principal.keyId) ?? { tokens: perMinute, at: t };
    b.tokens = Math.min(perMinute, b.tokens + (t - b.at) * refillPerMs);
    b.at = t;
    buckets.set(principal.keyId, b);
    if (b.tokens < 1) {
      const retryAfter = Math.ceil((1 - b.tokens) / refillPerMs / 1000);
      log.warn('rate limit exceeded', { keyId: principal.keyId, method: req.method, path: req.path });
      res.setHeader('Retry-After', String(retryAfter));
      return sendProblem(res, 429, `rate limit of ${perMinute} requests per minute exceeded for this API key`);
    }
    b.tokens -= 1;
    next();
  };
}
