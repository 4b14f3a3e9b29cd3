/**
 * `npm run api`: the HTTP API alone, against DATABASE_URL and TEMPORAL_ADDRESS
 * (migrations are applied by `npm run db:migrate`, workers run elsewhere).
 */
import { buildServices, startApi, uiOrigins } from './bootstrap';
import { codecFromSpec } from './infra/codec';
import { loadConfig } from './config';
import { openOrm } from './db/orm';
import { createLogger } from './infra/logger';
import { marketDataFrom } from './market/provider';
import { connectClient, ensureSearchAttributes } from './infra/temporal';
import { ApiKeyService } from './services/api-keys';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('api', config.logLevel);
  if (!config.databaseUrl || !config.temporalAddress) {
    throw new Error('`npm run api` runs the API alone: set DATABASE_URL and TEMPORAL_ADDRESS (or use `npm start`)');
  }
  const orm = await openOrm(config.databaseUrl, config.dbPoolMax);
  const codec = codecFromSpec(config.codecKeys, config.codecKeyId);
  if (!codec) log.warn('TEMPORAL_CODEC_KEYS is not set: workflow payloads go to Temporal unencrypted');
  const client = await connectClient(config.temporalAddress, config.temporalNamespace, codec);
  await ensureSearchAttributes(client, config.temporalNamespace, log);
  const admin = await new ApiKeyService(orm).bootstrapAdmin(config.dataDir, config.adminApiKey);
  if (admin.source === 'file') log.info('admin API key written', { file: admin.file });
  const api = await startApi({ orm, services: buildServices(orm, client, { taskQueue: config.taskQueue, market: marketDataFrom(config), reinvestTimezone: config.reinvestTimezone, webhookAllowedHosts: config.webhookAllowedHosts, projectionPool: config.projectionPool }), temporal: client, host: config.host, port: config.port, log, warmUpProjections: true, rateLimitPerMinute: config.rateLimitPerMinute, codec: codec && { codec, uiOrigins: uiOrigins(config), trustLoopback: config.codecTrustLoopback }, metrics: { token: config.metricsToken, sdkAddress: config.temporalMetricsAddress }, temporalUi: config.temporalUiUrl ? { url: config.temporalUiUrl, namespace: config.temporalNamespace } : undefined });
  log.info('API listening', { url: api.url });
  const stop = async () => {
    await api.stop();
    await client.connection.close();
    await orm.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err) => {
  process.stderr.write(`${String((err as Error)?.message ?? err)}\n`);
  process.exit(1);
});
