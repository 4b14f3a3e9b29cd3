import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Logger } from '../infra/logger';
import type { AccountService } from '../services/accounts';
import type { ApiKeyService } from '../services/api-keys';
import type { AuditLogService } from '../services/audit-log';
import type { IntegrityService } from '../services/integrity';
import type { OperationsService } from '../services/operations';
import type { ProtocolService } from '../services/protocols';
import type { ScheduleService } from '../schedules';
import type { ProjectionService } from '../services/projections';
import type { PortfolioService } from '../services/portfolios';
import type { WebhookService } from '../services/webhooks';
import { authenticate } from './auth';
import { rateLimit } from './rate-limit';
import { codecRoutes } from './codec';
import type { PayloadCodec } from '@temporalio/common';
import { renderDocs } from './docs';
import { errorHandler, sendProblem } from './errors';
import { keepRequestContext, metricsEndpoint, requestObservability } from './observability';
import { accountRoutes } from './routes/accounts';
import { adminRoutes } from './routes/admin';
import { operationRoutes } from './routes/operations';
import { portfolioRoutes } from './routes/portfolios';
import { projectionRoutes } from './routes/projections';
import { taskRoutes } from './routes/tasks';
import type { TaskService } from '../services/tasks';
import { webhookRoutes } from './routes/webhooks';

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
  tasks: TaskService;
  webhooks: WebhookService;
  readiness(): Promise<Readiness>;
  log: Logger;
  /** Requests per minute per API key; unset: no limit. */
  rateLimitPerMinute?: number;
  /** When payloads are encrypted: the codec the Temporal Web UI calls to show them. */
  codec?: { codec: PayloadCodec; uiOrigins: string[] };
  /** GET /metrics: the bearer token it requires (unset: open) and the Temporal SDK exporter's host:port to append. */
  metrics?: { token?: string; sdkAddress?: string };
}

/** Builds the Express app; no I/O until a request arrives. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  // First: the request id, the access line and the HTTP histogram cover every request, refused ones included.
  app.use(requestObservability(deps.log));
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(helmet());
  app.use(express.json({ limit: '64kb', strict: true, type: ['application/json', 'application/*+json'] }));
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

  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer' });
  const v1 = express.Router();
  portfolioRoutes(v1, registry, deps);
  accountRoutes(v1, registry, deps);
  operationRoutes(v1, registry, deps);
  projectionRoutes(v1, registry, deps);
  taskRoutes(v1, registry, deps);
  adminRoutes(v1, registry, deps);
  webhookRoutes(v1, registry, deps);

  const openapi = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'ALL-USE Engine API',
      version: '1',
      description: 'Portfolios, accounts and the exact double-entry ledger of the ALL-USE method. Amounts are decimal strings.',
    },
  });
  const docsHtml = renderDocs(openapi as never);
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  app.get('/docs', (_req, res) => {
    res.type('html').send(docsHtml);
  });

  if (deps.codec) codecRoutes(app, deps.codec.codec, deps.codec.uiOrigins, deps.apiKeys);
  app.use('/v1', authenticate(deps.apiKeys, deps.log));
  if (deps.rateLimitPerMinute) app.use('/v1', rateLimit(deps.rateLimitPerMinute, deps.log));
  app.use(v1);
  app.use((req, res) => sendProblem(res, 404, `no route for ${req.method} ${req.path}`));
  app.use(errorHandler(deps.log));
  return app;
}
