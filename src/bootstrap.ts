import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { MikroORM } from '@mikro-orm/postgresql';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from './api/app';
import type { CodecEndpoint } from './api/codec';
import { type AesGcmCodec, codecFromSpec, newCodecKeySpec } from './infra/codec';
import type { Config } from './config';
import { migrate, openOrm } from './db/orm';
import { startEmbeddedPostgres } from './infra/embedded-postgres';
import type { Logger } from './infra/logger';
import { registerDbCollectors } from './infra/metrics';
import { connectClient, ensureSearchAttributes, temporalReady } from './infra/temporal';
import { startTemporalDevServer } from './infra/temporal-dev-server';
import { LedgerService } from './ledger/ledger';
import { AccountService } from './services/accounts';
import { ActivityBatchService } from './services/activity-batch';
import { ImportService } from './services/imports';
import { ApiKeyService, followApiKeyChanges } from './services/api-keys';
import { AuditLogService } from './services/audit-log';
import { ExportService } from './services/exports';
import { IntegrityService } from './services/integrity';
import { PortfolioService } from './services/portfolios';
import { OperationsService } from './services/operations';
import { ProtocolService } from './services/protocols';
import { ProjectionService } from './services/projections';
import { type ProjectionPoolOptions, ProjectionPool, defaultPoolOptions } from './projection/pool';
import { RateLimitService, startRateLimitSweeper } from './services/rate-limits';
import { ReportService } from './services/reports';
import { TaskService } from './services/tasks';
import { WebhookService } from './services/webhooks';
import { type MarketDataProvider, SyntheticMarketData } from './market/provider';
import { ScheduleService } from './schedules';

export interface Stoppable {
  stop(): Promise<void>;
}

/** PostgreSQL: DATABASE_URL when set, else the embedded server under dataDir. Migrations applied. */
export async function openDatabase(config: Config, log: Logger): Promise<{ orm: MikroORM; embedded?: Stoppable }> {
  let url = config.databaseUrl;
  let embedded: Stoppable | undefined;
  if (!url) {
    const pg = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort, log });
    url = pg.url;
    embedded = pg;
    log.info('embedded PostgreSQL started', { port: config.embeddedPgPort });
  }
  const orm = await openOrm(url, config.dbPoolMax);
  const applied = await migrate(orm);
  if (applied.length) log.info('migrations applied', { applied });
  return { orm, embedded };
}

/** Temporal: TEMPORAL_ADDRESS when set, else the dev server (SQLite file + Web UI) under dataDir. */
export async function openTemporal(
  config: Config,
  log: Logger,
  codec?: PayloadCodec,
): Promise<{ client: Client; address: string; uiUrl?: string; devServer?: Stoppable }> {
  let address = config.temporalAddress;
  let devServer: Stoppable | undefined;
  let uiUrl: string | undefined;
  if (!address) {
    const dev = await startTemporalDevServer({
      cli: config.temporalCli,
      dataDir: config.dataDir,
      port: config.temporalPort,
      uiPort: config.temporalUiPort,
      namespace: config.temporalNamespace,
      log,
      uiCodecEndpoint: codec ? `http://${config.host}:${config.port}/codec` : undefined,
    });
    address = dev.address;
    uiUrl = dev.uiUrl;
    devServer = dev;
    log.info('Temporal dev server started', { address, uiUrl });
  }
  const client = await connectClient(address, config.temporalNamespace, codec);
  await ensureSearchAttributes(client, config.temporalNamespace, log);
  return { client, address, uiUrl, devServer };
}

export function buildServices(
  orm: MikroORM,
  temporal: Client,
  opts: {
    taskQueue: string; market?: MarketDataProvider; reinvestTimezone?: string; webhookAllowedHosts?: readonly string[];
    /** A client on the connection of a worker in this process (`eagerStartClient`): operations start eagerly through it. */
    eagerClient?: Client;
    /** The projection worker threads (config.projectionPool); unset: defaultPoolOptions(). */
    projectionPool?: ProjectionPoolOptions;
  },
) {
  const ledger = new LedgerService(orm);
  // Its threads start on the first projection; startApi's stop() ends them.
  const projections = new ProjectionService(orm, new ProjectionPool(opts.projectionPool ?? defaultPoolOptions()));
  const tasks = new TaskService(orm, temporal);
  return {
    tasks,
    projections,
    protocols: new ProtocolService(orm, temporal, {
      taskQueue: opts.taskQueue, market: opts.market ?? new SyntheticMarketData(), projections, reinvestTimezone: opts.reinvestTimezone,
      eagerClient: opts.eagerClient,
    }),
    operations: new OperationsService(orm, temporal, tasks),
    schedules: new ScheduleService(temporal),
    ledger,
    portfolios: new PortfolioService(orm, ledger),
    accounts: new AccountService(orm, ledger),
    batch: new ActivityBatchService(orm, ledger),
    imports: new ImportService(orm, ledger, temporal, { taskQueue: opts.taskQueue }),
    integrity: new IntegrityService(orm),
    apiKeys: new ApiKeyService(orm),
    rateLimits: new RateLimitService(orm),
    audit: new AuditLogService(orm),
    exports: new ExportService(orm),
    webhooks: new WebhookService(orm, { allowedHosts: opts.webhookAllowedHosts }),
    reports: new ReportService(orm),
  };
}
export type Services = ReturnType<typeof buildServices>;

export async function postgresReady(orm: MikroORM): Promise<boolean> {
  try {
    await orm.em.fork().execute('select 1');
    return true;
  } catch {
    return false;
  }
}

/** Starts the HTTP API; resolves once it listens. */
export async function startApi(opts: {
  orm: MikroORM;
  services: Services;
  temporal: Client;
  host: string;
  port: number;
  log: Logger;
  rateLimitPerMinute?: number;
  codec?: CodecEndpoint;
  /** GET /metrics: METRICS_TOKEN, and the Temporal SDK exporter's host:port to append. */
  metrics?: { token?: string; sdkAddress?: string };
  /** The Temporal Web UI and namespace operations link to (unset: no links). */
  temporalUi?: { url: string; namespace: string };
  /** The built web app served at GET / (default web/dist). */
  webDir?: string;
  /** Start the projection threads now (ProjectionService.warmUp) rather than on the first projection: for long-running APIs. */
  warmUpProjections?: boolean;
  /** The services outlive this API (another API in the process shares them): stop() leaves their projection threads running. */
  sharedServices?: boolean;
}): Promise<{ server: Server; url: string; stop(): Promise<void> }> {
  const app = createApp({
    ...opts.services,
    log: opts.log,
    rateLimitPerMinute: opts.rateLimitPerMinute,
    codec: opts.codec,
    metrics: opts.metrics,
    temporalUi: opts.temporalUi,
    webDir: opts.webDir,
    readiness: async () => {
      const [postgres, temporal] = await Promise.all([postgresReady(opts.orm), temporalReady(opts.temporal)]);
      return { postgres, temporal };
    },
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(opts.port, opts.host, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  if (opts.warmUpProjections) {
    void opts.services.projections.warmUp().catch((err) => opts.log.warn('projection threads: warm-up failed', { error: String((err as Error)?.stack ?? err) }));
  }
  // The gauges read at scrape time (open tasks) query this database while the API runs.
  const unregisterCollectors = registerDbCollectors(opts.orm);
  // Known API keys are cached; a change made through any process reaches this one's cache through LISTEN.
  const keyChanges = followApiKeyChanges(opts.orm.config.get('clientUrl')!, opts.services.apiKeys, opts.log);
  const sweeper = opts.rateLimitPerMinute ? startRateLimitSweeper(opts.services.rateLimits, opts.log) : undefined;
  return {
    server,
    url: `http://${opts.host}:${port}`,
    stop: async () => {
      sweeper?.stop();
      await new Promise<void>((resolve) => {
        unregisterCollectors();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // Both, whatever either does: a failed pool shutdown must not leave the LISTEN connection (and the process) running.
      const stopped = await Promise.allSettled([opts.sharedServices ? undefined : opts.services.projections.close(), keyChanges.stop()]);
      const failed = stopped.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}

/**
 * The payload codec: TEMPORAL_CODEC_KEYS when set; in development without it,
 * a key generated once into `<dataDir>/codec-keys` (mode 0600), so `npm start`
 * encrypts payloads out of the box; in production without it, none.
 */
export function resolveCodec(config: Config, log: Logger): AesGcmCodec | undefined {
  if (config.codecKeys) return codecFromSpec(config.codecKeys, config.codecKeyId);
  if (config.env === 'production') {
    log.warn('TEMPORAL_CODEC_KEYS is not set: workflow payloads go to Temporal unencrypted');
    return undefined;
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const file = join(config.dataDir, 'codec-keys');
  if (!existsSync(file)) writeFileSync(file, `${newCodecKeySpec()}\n`, { mode: 0o600 });
  return codecFromSpec(readFileSync(file, 'utf8').trim(), config.codecKeyId);
}

/** Where the Temporal Web UI runs, for the codec endpoint's CORS: the dev server's UI port, and TEMPORAL_UI_URL's origin when set. */
export const uiOrigins = (config: Config) => [
  `http://127.0.0.1:${config.temporalUiPort}`, `http://localhost:${config.temporalUiPort}`,
  ...(config.temporalUiUrl ? [new URL(config.temporalUiUrl).origin] : []),
];
