/**
 * `npm start`: the whole engine in one process tree on embedded defaults —
 * PostgreSQL, the Temporal dev server with its Web UI, the worker and the API.
 * DATABASE_URL / TEMPORAL_ADDRESS switch to external services.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildServices, openDatabase, openTemporal, resolveCodec, startApi, type Stoppable, uiOrigins } from './bootstrap';
import { type Config, loadConfig } from './config';
import { leaveShutdownSignalsToCaller } from './infra/embedded-postgres';
import type { EngineLock } from './infra/engine-lock';
import { createLogger } from './infra/logger';
import { freePort } from './infra/port-check';
import { explainPortInUse, preflight } from './infra/preflight';
import { describeError, isPortInUse, StartupError } from './infra/startup-errors';
import { marketDataFrom } from './market/provider';
import { startWebhookDispatcher } from './notify/dispatcher';
import { ApiKeyService } from './services/api-keys';
import { eagerStartClient } from './infra/temporal';
import { installTemporalRuntime, startWorker } from './worker';
import { ensureSchedules } from './schedules';

async function main(): Promise<void> {
  let config: Readonly<Config>;
  try {
    config = loadConfig();
  } catch (err) {
    reportStartFailure(undefined, err);
    process.exit(1);
  }
  const log = createLogger('main', config.logLevel);
  const stack: { name: string; stop(): Promise<void> }[] = [];
  let lock: EngineLock | undefined;
  let stopping = false;
  const shutdown = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    if (stack.length) log.info('shutting down', { signal });
    for (const part of stack.reverse()) {
      try {
        await part.stop();
      } catch (err) {
        log.error('stop failed', { part: part.name, error: describeError(err) });
      }
    }
    lock?.release();
    if (stack.length && exitCode === 0) log.info('stopped');
    process.exit(exitCode);
  };
  // This process stops the embedded PostgreSQL itself, last, after the API and worker.
  leaveShutdownSignalsToCaller();
  // `on`, not `once`: a Ctrl-C often arrives twice (from the terminal and relayed by npm/tsx), and a repeat
  // with no listener left would kill the process mid-shutdown with its servers still running.
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  const track = (name: string, s?: Stoppable) => s && stack.push({ name, stop: () => s.stop() });

  try {
    lock = await preflight(config);
    const db = await step(databaseStep(config), () => openDatabase(config, log));
    track('postgres', db.embedded);
    track('orm', { stop: () => db.orm.close() });
    const codec = resolveCodec(config, log);
    const temporal = await step(temporalStep(config), () => openTemporal(config, log, codec));
    track('temporal dev server', temporal.devServer);
    track('temporal client', { stop: () => temporal.client.connection.close() });

    const admin = await step('creating the admin API key', () => new ApiKeyService(db.orm).bootstrapAdmin(config.dataDir, config.adminApiKey));
    // The SDK's worker metrics: TEMPORAL_METRICS_ADDRESS, else a free loopback port; GET /metrics appends them.
    const temporalMetricsAddress = config.temporalMetricsAddress ?? `127.0.0.1:${await freePort('127.0.0.1')}`;
    installTemporalRuntime(config.logLevel, { metricsAddress: temporalMetricsAddress });
    const worker = await step('starting the worker', () => startWorker({ config, orm: db.orm, address: temporal.address, log, codec }));
    track('worker', worker);
    await step('creating the schedules', () => ensureSchedules(temporal.client, config, log));
    // Stopped before the ORM (the stack stops in reverse order).
    track('webhook dispatcher', startWebhookDispatcher({ orm: db.orm, log, config }));
    // TEMPORAL_UI_URL, else the dev server's own UI; operations link to their workflow there.
    const temporalUiUrl = config.temporalUiUrl ?? temporal.uiUrl;
    // The web app served at GET /: built on a first start (or after its sources changed); a failed build does not stop the engine.
    await buildWebApp();
    const api = await step('starting the API', () => startApi({ orm: db.orm, services: buildServices(db.orm, temporal.client, { taskQueue: config.taskQueue, market: marketDataFrom(config), reinvestTimezone: config.reinvestTimezone, webhookAllowedHosts: config.webhookAllowedHosts, projectionPool: config.projectionPool, eagerClient: eagerStartClient(worker.connection, config.temporalNamespace, codec) }), temporal: temporal.client, host: config.host, port: config.port, log, warmUpProjections: true, rateLimitPerMinute: config.rateLimitPerMinute, codec: codec && { codec, uiOrigins: uiOrigins(config), trustLoopback: config.codecTrustLoopback }, metrics: { token: config.metricsToken, sdkAddress: temporalMetricsAddress }, temporalUi: temporalUiUrl ? { url: temporalUiUrl, namespace: config.temporalNamespace } : undefined }));
    track('api', api);

    const keyLine =
      admin.source === 'env' ? 'the admin API key is the one in ALLUSE_ADMIN_API_KEY'
        : admin.file ? adminKeyLine(admin.file)
          : 'an admin API key exists (created earlier; its file was removed)';
    process.stdout.write(
      [
        '',
        'ALL-USE Engine is running',
        `  API           ${api.url}`,
        `  API docs      ${api.url}/docs   (OpenAPI: ${api.url}/openapi.json)`,
        `  Web app       ${api.url}/`,
        `  Temporal UI   ${temporalUiUrl ?? `(external Temporal at ${temporal.address}; set TEMPORAL_UI_URL to link to its UI)`}`,
        `  ${keyLine}`,
        `  data          ${config.databaseUrl ? 'external PostgreSQL' : config.dataDir}`,
        `  payloads      ${codec ? `AES-256-GCM encrypted (keys: ${config.codecKeys ? 'TEMPORAL_CODEC_KEYS' : `${config.dataDir}/codec-keys`}; UI decodes via ${api.url}/codec)` : 'not encrypted'}`,
        '  Ctrl-C stops everything.',
        '',
      ].join('\n') + '\n',
    );
  } catch (err) {
    reportStartFailure(config, err);
    await shutdown('start-failure', 1);
  }
}

/**
 * Where the admin key is, and on an interactive terminal the key itself, so
 * a new user can paste it into the web app's sign-in. Never printed when the
 * output goes to a file or a log collector (not a TTY): there, only the path.
 */
function adminKeyLine(file: string): string {
  if (!process.stdout.isTTY) return `admin API key: ${file} (mode 0600)`;
  const key = readFileSync(file, 'utf8').trim();
  return `admin API key: ${key}\n                 (also in ${file}, mode 0600; shown on a terminal only)`;
}

/**
 * Runs one start step and says which one failed: a bare "connect
 * ECONNREFUSED" or "Failed to connect before the deadline" does not say
 * whether PostgreSQL or Temporal is missing. Errors that already say what is
 * in the way (StartupError, a port in use) pass through unchanged.
 */
async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof StartupError || isPortInUse(err)) throw err;
    throw new Error(what, { cause: err });
  }
}

/**
 * Builds the web app into web/dist when it was never built or its sources
 * changed (scripts/build-web.mjs; fast when up to date). A failure (say vite
 * not installed, or an error in web/src) is reported on one line and does not
 * stop the engine: the API runs, and GET / serves what web/dist holds (503
 * when it holds no app).
 */
async function buildWebApp(): Promise<void> {
  // A child process: Vite sets NODE_ENV=production while it builds, which must not leak into the engine's own process.
  const code = await new Promise<number | null>((done) => {
    const child = spawn(process.execPath, [join(__dirname, '..', 'scripts', 'build-web.mjs')], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', () => done(null));
    child.on('exit', (c) => done(c));
  });
  if (code !== 0) process.stdout.write('web app: the build failed; `npm run web:build` shows why\n');
}

function databaseStep(config: Config): string {
  if (!config.databaseUrl) return 'opening the embedded PostgreSQL';
  const url = new URL(config.databaseUrl); // only host and port shown: the URL may hold a password
  return `opening PostgreSQL at ${url.host} (DATABASE_URL)`;
}

function temporalStep(config: Config): string {
  return config.temporalAddress ? `connecting to Temporal at ${config.temporalAddress} (TEMPORAL_ADDRESS)` : 'starting the Temporal dev server';
}

/**
 * One line on stderr saying what went wrong; for a conflict the operator can
 * fix (StartupError) that line is all. The stack of an unexpected error is
 * shown at LOG_LEVEL=debug.
 */
function reportStartFailure(config: Config | undefined, err: unknown): void {
  const line = (config && explainPortInUse(config, err)) ?? describeError(err);
  process.stderr.write(`start failed: ${line}\n`);
  const root = rootCause(err);
  if (config?.logLevel === 'debug' && !(err instanceof StartupError) && root instanceof Error && root.stack) {
    process.stderr.write(`${root.stack}\n`);
  }
}

function rootCause(err: unknown): unknown {
  let e = err;
  while (e instanceof Error && e.cause !== undefined) e = e.cause;
  return e;
}

void main();
