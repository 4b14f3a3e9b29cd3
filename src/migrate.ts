/** `npm run db:migrate`: applies pending migrations to DATABASE_URL (or the embedded database). */
import { openDatabase } from './bootstrap';
import { loadConfig } from './config';
import { createLogger } from './infra/logger';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('migrate', config.logLevel);
  const { orm, embedded } = await openDatabase(config, log);
  await orm.close();
  await embedded?.stop();
  log.info('database is up to date');
}

main().catch((err) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
