/**
 * The Temporal worker: runs the fork, merge and reinvest workflows and their
 * activities. `startWorker()` is used in-process by `npm start`; running this
 * file (`npm run worker`) starts a worker alone against DATABASE_URL and
 * TEMPORAL_ADDRESS.
 */
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { MikroORM } from '@mikro-orm/postgresql';
import { type Activities, createActivities } from './activities';
import type { BrokerGateway } from './broker/gateway';
import { PaperBroker } from './broker/paper';
import { type Config, loadConfig } from './config';
import { openOrm } from './db/orm';
import { createLogger, type Logger } from './infra/logger';
import { engineClock } from './infra/knobs';
import { activityInterceptors } from './infra/temporal-interceptors';
import { TemporalLogger } from './infra/temporal-logger';
import { LedgerService } from './ledger/ledger';
import { connectClient, ensureSearchAttributes } from './infra/temporal';
import { ensureSchedules } from './schedules';
import { codecFromSpec } from './infra/codec';
import type { PayloadCodec } from '@temporalio/common';
import { marketDataFrom } from './market/provider';
import express from 'express';
import { metricsEndpoint } from './api/observability';
import { startWebhookDispatcher } from './notify/dispatcher';

/**
 * The workflow interceptor modules (request id to activities, children and
 * log lines). Every bundle of the workflows includes them: the worker's own
 * (`workflowsPath`) here, and `bundleWorkflowCode({ workflowInterceptorModules })`
 * wherever a bundle is built beforehand (tests, replay, bench).
 */
export const workflowInterceptorModules = [require.resolve('./workflows/interceptors')];

export interface WorkerHandle {
  worker: Worker;
  /** The worker's connection: a client on it may start workflows eagerly (`eagerStartClient`). Closed when the worker stops. */
  connection: NativeConnection;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function startWorker(opts: {
  config: Config;
  orm: MikroORM;
  address: string;
  log: Logger;
  broker?: BrokerGateway;
  workflowBundle?: WorkerOptions['workflowBundle'];
  taskQueue?: string;
  /** Lets tests wrap the real activities (for example to fail one step on purpose). */
  wrapActivities?: (real: Activities) => Activities;
  /** Encrypts every payload the worker sends to Temporal. */
  codec?: PayloadCodec;
}): Promise<WorkerHandle> {
  const connection = await NativeConnection.connect({ address: opts.address });
  const real = createActivities({
    orm: opts.orm,
    ledger: new LedgerService(opts.orm),
    broker: opts.broker ?? new PaperBroker(opts.orm, opts.config.paperBroker),
    market: marketDataFrom(opts.config),
    now: engineClock(opts.config.clockOffsetFile),
  });
  const activities = opts.wrapActivities ? opts.wrapActivities(real) : real;
  const worker = await Worker.create({
    connection,
    namespace: opts.config.temporalNamespace,
    taskQueue: opts.taskQueue ?? opts.config.taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('./workflows') }),
    activities,
    // A prebuilt bundle carries its workflow interceptors already (the SDK ignores workflowModules then).
    interceptors: { activity: [activityInterceptors], ...(!opts.workflowBundle && { workflowModules: workflowInterceptorModules }) },
    dataConverter: opts.codec ? { payloadCodecs: [opts.codec] } : undefined,
    maxConcurrentActivityTaskExecutions: opts.config.workerActivityConcurrency,
    maxConcurrentWorkflowTaskExecutions: opts.config.workerWorkflowConcurrency,
  });
  const done = worker.run().finally(() => connection.close());
  opts.log.info('worker started', { taskQueue: opts.taskQueue ?? opts.config.taskQueue });
  return {
    worker,
    connection,
    done,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

/**
 * The SDK's runtime, once per process before any worker: its logs (workflow
 * and activity `log` lines at `level`; the SDK's own and Core's at WARN unless
 * `level` is debug) go through the engine's pino logger as JSON; with
 * `metricsAddress` (host:port) its Prometheus exporter serves the worker's
 * metrics there (GET /metrics appends them).
 */
export function installTemporalRuntime(level: Config['logLevel'], opts: { metricsAddress?: string } = {}): void {
  const sdkLevel = ({ debug: 'DEBUG', info: 'WARN', warn: 'WARN', error: 'ERROR' } as const)[level];
  Runtime.install({
    logger: new TemporalLogger(createLogger('temporal', level), { level, sdkLevel }),
    telemetryOptions: {
      logging: { forward: {}, filter: { core: sdkLevel, other: 'ERROR' } },
      ...(opts.metricsAddress && { metrics: { prometheus: { bindAddress: opts.metricsAddress } } }),
    },
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('worker', config.logLevel);
  if (!config.databaseUrl || !config.temporalAddress) {
    throw new Error('`npm run worker` runs the worker alone: set DATABASE_URL and TEMPORAL_ADDRESS (or use `npm start`)');
  }
  installTemporalRuntime(config.logLevel, { metricsAddress: config.temporalMetricsAddress });
  const orm = await openOrm(config.databaseUrl, config.dbPoolMax);
  const codec = codecFromSpec(config.codecKeys, config.codecKeyId);
  if (!codec) log.warn('TEMPORAL_CODEC_KEYS is not set: workflow payloads go to Temporal unencrypted');
  const handle = await startWorker({ config, orm, address: config.temporalAddress, log, codec });
  const webhooks = startWebhookDispatcher({ orm, log, config });
  // A worker without an API beside it serves its own metrics (saga steps, postings, operations, webhook deliveries).
  const metricsServer = config.workerMetricsPort
    ? express().get('/metrics', metricsEndpoint({ token: config.metricsToken, sdkAddress: config.temporalMetricsAddress, log }))
      .listen(config.workerMetricsPort, config.host, () => log.info('worker metrics served', { url: `http://${config.host}:${config.workerMetricsPort}/metrics` }))
    : undefined;
  const client = await connectClient(config.temporalAddress, config.temporalNamespace, codec);
  await ensureSearchAttributes(client, config.temporalNamespace, log);
  await ensureSchedules(client, config, log);
  await client.connection.close();
  const stop = () => void handle.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await handle.done;
  await webhooks.stop();
  metricsServer?.close();
  await orm.close();
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${String((err as Error)?.message ?? err)}\n`);
    process.exit(1);
  });
}
