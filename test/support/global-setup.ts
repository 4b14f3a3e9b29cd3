import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedPg, startEmbeddedPostgres } from '../../src/infra/embedded-postgres';
import { silentLogger } from '../../src/infra/logger';
import { startTemporalDevServer } from '../../src/infra/temporal-dev-server';
import { freePort, retryOnPortClash } from './ports';

/**
 * Generous start deadlines: the suite shares a 2-core machine with engines and
 * other runs, where either server can take far longer than when idle.
 */
const START_TIMEOUT_MS = 180_000;

/**
 * One real PostgreSQL and one real Temporal dev server for the whole run
 * (each test file makes its own database and task queue). Only the
 * `integration` Jest project has this global setup, so `npm run test:unit`
 * starts neither.
 */
export default async function globalSetup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'alluse-test-'));
  chmodSync(dir, 0o711);
  let pg: EmbeddedPg | undefined;
  try {
    pg = await retryOnPortClash(async () =>
      startEmbeddedPostgres({ dataDir: join(dir, 'data'), port: await freePort(), database: 'alluse_test', log: silentLogger, startTimeoutMs: START_TIMEOUT_MS }),
    );
    const temporal = await retryOnPortClash(async () =>
      startTemporalDevServer({
        dataDir: join(dir, 'temporal'),
        port: await freePort(),
        uiPort: await freePort(),
        namespace: 'default',
        headless: true,
        log: silentLogger,
        startTimeoutMs: START_TIMEOUT_MS,
      }),
    );
    process.env.ALLUSE_TEST_PG_URL = pg.url;
    process.env.ALLUSE_TEST_TEMPORAL_ADDRESS = temporal.address;
    process.env.ALLUSE_TEST_DIR = dir;
    (globalThis as Record<string, unknown>).__ALLUSE_TEST_STACK__ = { pg, temporal };
  } catch (err) {
    // Jest runs no global teardown when the setup fails: leave nothing running or on disk.
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
