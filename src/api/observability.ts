import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Logger } from '../infra/logger';
import { exposition, metrics, registry } from '../infra/metrics';
import { requestContext, requestIdFrom } from '../infra/request-context';
import { sendProblem } from './errors';

/** Probes and scrapes: their access lines are debug, not info. */
const QUIET_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/** The route pattern that served a request (`/v1/accounts/:id/fork`), or `unmatched` (404, or refused before routing: 401, 429). */
export function routeOf(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  if (path === undefined) return 'unmatched';
  return `${req.baseUrl}${typeof path === 'string' ? path : String(path)}` || '/';
}

/**
 * The first middleware: the request id (the caller's `X-Request-Id` when it
 * is 1–100 characters of [A-Za-z0-9._-], else a new uuid v7), echoed in the
 * response's `X-Request-Id` and kept in the request context for the rest of
 * the request (log lines, Temporal headers); then one access line and one
 * `alluse_http_request_duration_seconds` sample per request. Neither ever
 * holds a header value or the query string.
 */
export function requestObservability(log: Logger): RequestHandler {
  const access = log.child({ kind: 'access' });
  return (req, res, next) => {
    const requestId = requestIdFrom(req.get('x-request-id'));
    res.setHeader('X-Request-Id', requestId);
    res.locals.requestId = requestId;
    const started = process.hrtime.bigint();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routeOf(req);
      // Closed before the response was complete: the client went away (nginx's 499).
      const status = res.writableFinished ? res.statusCode : 499;
      metrics.httpSeconds.observe({ method: req.method, route, status: String(status) }, seconds);
      const line = { method: req.method, route, path: req.originalUrl.split('?')[0], status, ms: Math.round(seconds * 1e4) / 10, requestId };
      if (QUIET_ROUTES.has(route)) access.debug('request', line);
      else access.info('request', line);
    };
    res.once('finish', finish);
    res.once('close', finish);
    requestContext.run({ requestId }, next);
  };
}

/**
 * Re-enters the request context: body parsing resumes the middleware chain
 * from a stream callback, outside the context the first middleware opened.
 */
export const keepRequestContext: RequestHandler = (_req, res, next) => {
  const requestId = res.locals.requestId as string | undefined;
  if (requestId) requestContext.run({ requestId }, next);
  else next();
};

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * GET /metrics: the Prometheus text exposition (this process's registry,
 * then the Temporal SDK's metrics from `sdkAddress` when set). Open unless a
 * token is configured (METRICS_TOKEN); then `Authorization: Bearer <token>`.
 */
export function metricsEndpoint(opts: { token?: string; sdkAddress?: string; log: Logger }): RequestHandler {
  const expected = opts.token ? digest(opts.token) : undefined;
  return async (req, res) => {
    if (expected) {
      const given = /^Bearer (\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
      if (!given || !timingSafeEqual(digest(given), expected)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="alluse-metrics"');
        return sendProblem(res, 401, 'GET /metrics needs the metrics token: Authorization: Bearer <METRICS_TOKEN>');
      }
    }
    const body = await exposition({ sdkAddress: opts.sdkAddress, log: opts.log });
    res.setHeader('Content-Type', registry.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(body);
  };
}
