import type { PayloadCodec } from '@temporalio/common';
import type { Activities } from '../../src/activities';
import { type TestApi, startTestApi } from './api';
import { createTestDatabase } from './db';
import { protocolHelpers } from './protocol';
import { startTestWorker, testTaskQueue } from './worker';

export type ProtocolStack = Awaited<ReturnType<typeof startProtocolStack>>;

/** A test file's own database and task queue, the real worker on it, and the API in front. */
export async function startProtocolStack(opts: { wrapActivities?: (real: Activities) => Activities; codec?: PayloadCodec; uiOrigins?: string[] } = {}) {
  const db = await createTestDatabase();
  const queue = testTaskQueue();
  const worker = await startTestWorker(db.orm, queue, { wrapActivities: opts.wrapActivities, codec: opts.codec });
  const api: TestApi = await startTestApi(db.orm, queue, opts.codec ? { codec: { codec: opts.codec, uiOrigins: opts.uiOrigins ?? [] } } : {});
  return {
    db, queue, worker, api, h: protocolHelpers(api, db.orm),
    stop: async () => {
      await worker.stop();
      await api.close();
      await db.close();
    },
  };
}
