import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiProcess, killApiHard, spawnApi } from './api-process';
import { freePort } from './ports';

export interface TestApiProcess extends ApiProcess {
  stop(): Promise<void>;
}

/**
 * An API process (src/server.ts) for a test: on the run's Temporal, a free loopback port and a
 * data dir of its own. The database must already hold the admin key `ALLUSE_ADMIN_API_KEY` when
 * several start at once (each would otherwise try to create it).
 */
export async function startApiProcess(env: { DATABASE_URL: string; ALLUSE_ADMIN_API_KEY: string } & Record<string, string>): Promise<TestApiProcess> {
  for (let attempt = 1; ; attempt++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'alluse-api-'));
    try {
      const api = await spawnApi({
        TEMPORAL_ADDRESS: process.env.ALLUSE_TEST_TEMPORAL_ADDRESS!, PORT: String(await freePort()), ALLUSE_DATA_DIR: dataDir, DB_POOL_MAX: '5', ...env,
      });
      return { ...api, stop: async () => {
        await killApiHard(api);
        rmSync(dataDir, { recursive: true, force: true });
      } };
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true });
      // The port was taken between freePort() and the server's bind: try another.
      if (attempt >= 3 || !String((err as Error).message).includes('EADDRINUSE')) throw err;
    }
  }
}
