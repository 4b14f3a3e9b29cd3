/**
 * `npm start`: the whole engine in one process tree on embedded defaults —
 * PostgreSQL, the Temporal dev server with its Web UI, the worker and the API.
 * DATABASE_URL / TEMPORAL_ADDRESS switch to external services.
 */
import { buildServices, openDatabase, openTemporal, resolveCodec, startApi, type Stoppable, uiOrigins } from './bootstrap';
import { loadConfig } from './config';
import { createLogger } from './infra/logger';
import { marketDataFrom } from './market/provider';
import { ApiKeyService } from './services/api-keys';
import { installTemporalRuntime, startWorker } from './worker';
import { ensureSchedules } from './schedules';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('main', config.logLevel);
  const stack: { name: string; stop(): Promise<void> }[] = [];
  let stopping = false;
  const shutdown = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    for (const part of stack.reverse()) {
      try {
        await part.stop();
      } catch (err) {
        log.error('stop failed', { part: part.name, error: String(err) });
      }
    }
    process.exit(exitCode);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  const track = (name: string, s?: Stoppable) => s && stack.push({ name, stop: () => s.stop() });

  try {
    const db = await openDatabase(config, log);
    track('postgres', db.embedded);
    track('orm', { stop: () => db.orm.close() });
    const codec = resolveCodec(config, log);
    const temporal = await openTemporal(config, log, codec);
    track('temporal dev server', temporal.devServer);
    track('temporal client', { stop: () => temporal.client.connection.close() });

    const admin = await new ApiKeyService(db.orm).bootstrapAdmin(config.dataDir, config.adminApiKey);
    installTemporalRuntime(config.logLevel);
    const worker = await startWorker({ config, orm: db.orm, address: temporal.address, log, codec });
    track('worker', worker);
    await ensureSchedules(temporal.client, config, log);
    const api = await startApi({ orm: db.orm, services: buildServices(db.orm, temporal.client, { taskQueue: config.taskQueue, market: marketDataFrom(config) }), temporal: temporal.client, host: config.host, port: config.port, log, rateLimitPerMinute: config.rateLimitPerMinute, codec: codec && { codec, uiOrigins: uiOrigins(config) } });
    track('api', api);

    const keyLine =
      admin.source === 'env' ? 'the admin API key is the one in ALLUSE_ADMIN_API_KEY'
        : admin.file ? `admin API key: ${admin.file} (mode 0600)`
          : 'an admin API key exists (created earlier; its file was removed)';
    process.stdout.write(
      [
        '',
        'ALL-USE Engine is running',
        `  API           ${api.url}`,
        `  API docs      ${api.url}/docs   (OpenAPI: ${api.url}/openapi.json)`,
        `  Temporal UI   ${temporal.uiUrl ?? `(external Temporal at ${temporal.address})`}`,
        `  ${keyLine}`,
        `  data          ${config.databaseUrl ? 'external PostgreSQL' : config.dataDir}`,
        `  payloads      ${codec ? `AES-256-GCM encrypted (keys: ${config.codecKeys ? 'TEMPORAL_CODEC_KEYS' : `${config.dataDir}/codec-keys`}; UI decodes via ${api.url}/codec)` : 'not encrypted'}`,
        '  Ctrl-C stops everything.',
        '',
      ].join('\n') + '\n',
    );
  } catch (err) {
    log.error('start failed', { error: String((err as Error)?.stack ?? err) });
    await shutdown('start-failure', 1);
  }
}

void main();
