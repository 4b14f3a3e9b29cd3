import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../src/infra/embedded-postgres';
import { silentLogger } from '../../src/infra/logger';
import { startTemporalDevServer } from '../../src/infra/temporal-dev-server';
import { freePort } from './ports';

/**
 * One real PostgreSQL and one real Temporal dev server for the whole run
 * (each test file makes its own database and task queue). Skipped for a
 * unit-only run (ALLUSE_TEST_UNIT_ONLY=1).
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.ALLUSE_TEST_UNIT_ONLY === '1') return;
  const dir = mkdtempSync(join(tmpdir(), 'alluse-test-'));
  chmodSync(dir, 0o711);
  const pgPort = await freePort();
  const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port: pgPort, database: 'alluse_test', log: silentLogger });
  const temporal = await startTemporalDevServer({
    dataDir: join(dir, 'temporal'),
    port: await freePort(),
    uiPort: await freePort(),
    namespace: 'default',
    headless: true,
    log: silentLogger,
  });
  process.env.ALLUSE_TEST_PG_URL = pg.url;
  process.env.ALLUSE_TEST_TEMPORAL_ADDRESS = temporal.address;
  process.env.ALLUSE_TEST_DIR = dir;
  (globalThis as Record<string, unknown>).__ALLUSE_TEST_STACK__ = { pg, temporal };
}
