import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { Logger } from '../infra/logger';
import type { AccountService } from '../services/accounts';
import type { ApiKeyService } from '../services/api-keys';
import type { RateLimitService } from '../services/rate-limits';
import type { AuditLogService } from '../services/audit-log';
import type { ExportService } from '../services/exports';
import type { IntegrityService } from '../services/integrity';
import type { OperationsService } from '../services/operations';
import type { ProtocolService } from '../services/protocols';
import type { ScheduleService } from '../schedules';
import type { ProjectionService } from '../services/projections';
import type { ReportService } from '../services/reports';
import type { PortfolioService } from '../services/portfolios';
import type { WebhookService } from '../services/webhooks';
import { authenticate } from './auth';
import { rateLimit } from './rate-limit';
import { type CodecEndpoint, codecRoutes } from './codec';
import { docsRouter } from './docs';
import { webRouter } from './web';
import { openApiDocument, v1Routes } from './openapi';
import { errorHandler, sendProblem } from './errors';
import { keepRequestContext, metricsEndpoint, requestObservability } from './observability';
import type { TaskService } from '../services/tasks';
import type { ImportService } from '../services/imports';
import type { ActivityBatchService } from '../services/activity-batch';

export interface Readiness {
  postgres: boolean;
  temporal: boolean;
}

export interface AppDeps {
  portfolios: PortfolioService;
  accounts: AccountService;
  integrity: IntegrityService;
  apiKeys: ApiKeyService;
  audit: AuditLogService;
  operations: OperationsService;
  protocols: ProtocolService;
  schedules: ScheduleService;
  projections: ProjectionService;
  reports: ReportService;
  exports: ExportService;
  tasks: TaskService;
  webhooks: WebhookService;
  batch: ActivityBatchService;
  imports: ImportService;
  rateLimits: RateLimitService;
  readiness(): Promise<Readiness>;
  log: Logger;
  /** Requests per minute per API key, counted across every API process (rateLimits); unset: no limit. */
  rateLimitPerMinute?: number;
  /** When payloads are encrypted: the codec the Temporal Web UI calls to show them. */
  codec?: CodecEndpoint;
  /** GET /metrics: the bearer token it requires (unset: open) and the Temporal SDK exporter's host:port to append. */
  metrics?: { token?: string; sdkAddress?: string };
  /** The Temporal Web UI (base URL without a trailing slash) and the engine's namespace: operations link to their workflow there. */
  temporalUi?: { url: string; namespace: string };
  /** The built web app served at GET / (default: web/dist of this checkout). */
  webDir?: string;
}

const JSON_TYPES = ['application/json', 'application/*+json'];
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** A string with a lone UTF-16 surrogate (`"\ud800"`) is not text: PostgreSQL refuses it in jsonb, so the body is refused (400) here. */
const wellFormed = (_key: string, value: unknown) => {
  if (typeof value === 'string' && LONE_SURROGATE.test(value)) throw new SyntaxError('a string holds a lone UTF-16 surrogate');
  return value;
};
const LARGE_BODIES: { path: RegExp; parser: RequestHandler }[] = [
  { path: /^\/v1\/activity\/batch$/, parser: express.json({ limit: '5mb', strict: true, type: JSON_TYPES, reviver: wellFormed }) },
  {
    path: /^\/v1\/portfolios\/[^/]+\/imports$/,
    parser: express.text({ limit: '20mb', type: ['text/csv', 'text/plain', 'application/xml', 'text/xml'], defaultCharset: 'utf-8' }),
  },
];
const largeBodyParser = (path: string) => LARGE_BODIES.find((b) => b.path.test(path))?.parser;

/** Builds the Express app; no I/O until a request arrives. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  // First: the request id, the access line and the HTTP histogram cover every request, refused ones included.
  app.use(requestObservability(deps.log));
  app.disable('x-powered-by');
  // Streamed responses (src/api/route.ts) log a failure that happens after the headers went out.
  app.locals.log = deps.log;
  app.set('trust proxy', false);
  app.use(helmet());
  // Small JSON bodies everywhere; the few routes that take large bodies parse them after authentication (below).
  const smallJson = express.json({ limit: '64kb', strict: true, type: JSON_TYPES, reviver: wellFormed });
  app.use((req, res, next) => (largeBodyParser(req.path) ? next() : smallJson(req, res, next)));
  app.use(keepRequestContext);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/metrics', metricsEndpoint({ ...deps.metrics, log: deps.log }));
  app.get('/readyz', async (_req, res) => {
    const r = await deps.readiness();
    const ok = r.postgres && r.temporal;
    res.status(ok ? 200 : 503).json({
      status: ok ? 'ready' : 'not ready',
      checks: { postgres: r.postgres ? 'ok' : 'unreachable', temporal: r.temporal ? 'ok' : 'unreachable' },
    });
  });

  const { router: v1, registry } = v1Routes(deps);
  const openapi = openApiDocument(registry);
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  // Swagger UI and its assets, public, with their own strict Content-Security-Policy.
  app.use('/docs', docsRouter());
  // The web app (web/dist) at /, public like /docs (it signs in with an API key through /v1), under its own strict CSP.
  app.use(webRouter(deps.webDir));

  if (deps.codec) codecRoutes(app, deps.codec, deps.apiKeys);
  app.use('/v1', authenticate(deps.apiKeys, deps.log));
  if (deps.rateLimitPerMinute) app.use('/v1', rateLimit(deps.rateLimits, deps.rateLimitPerMinute, deps.log));
  app.use((req, res, next) => {
    const parser = largeBodyParser(req.path);
    return parser ? parser(req, res, next) : next();
  });
  app.use(v1);
  app.use((req, res) => sendProblem(res, 404, `no route for ${req.method} ${req.path}`));
  app.use(errorHandler(deps.log));
  return app;
}
