import type { PayloadCodec } from '@temporalio/common';
import type { Activities } from '../../src/activities';
import { type TestApi, late, startTestApi } from './api';
import { createTestDatabase } from './db';
import { protocolHelpers } from './protocol';
import { startTestWorker, testTaskQueue } from './worker';

export type ProtocolStack = Awaited<ReturnType<typeof startProtocolStack>>;

/** A test file's own database and task queue, the real worker on it, and the API in front. */
export async function startProtocolStack(opts: {
  wrapActivities?: (real: Activities) => Activities; codec?: PayloadCodec; uiOrigins?: string[]; codecTrustsLoopback?: boolean;
} = {}) {
  const db = await createTestDatabase();
  const queue = testTaskQueue();
  const worker = await startTestWorker(db.orm, queue, { wrapActivities: opts.wrapActivities, codec: opts.codec });
  const api: TestApi = await startTestApi(db.orm, queue, opts.codec ? { codec: { codec: opts.codec, uiOrigins: opts.uiOrigins ?? [], trustLoopback: opts.codecTrustsLoopback } } : {});
  return {
    db, queue, worker, api, h: protocolHelpers(api, db.orm),
    stop: async () => {
      await worker.stop();
      await api.close();
      await db.close();
    },
  };
}

/**
 * For a test file: a protocol stack started before its tests and stopped
 * after them. `api`, `h` and `db` read the running stack when used, so a
 * file may destructure them at its top level; `queue` is there once started.
 */
export function useProtocolStack(opts: Parameters<typeof startProtocolStack>[0] = {}) {
  let stack: ProtocolStack | undefined;
  beforeAll(async () => {
    stack = await startProtocolStack(opts);
  });
  afterAll(() => stack?.stop());
  return {
    api: late('the test API', () => stack?.api),
    h: late('the helpers', () => stack?.h),
    db: late('the test database', () => stack?.db),
    get queue(): string {
      if (!stack) throw new Error('the protocol stack is not started: use it in a test or hook, after beforeAll');
      return stack.queue;
    },
  };
}
