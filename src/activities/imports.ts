import { Context } from '@temporalio/activity';
import { ImportRunner } from '../services/import-lines';
import type { ActivityDeps } from './common';

/** The import workflow's steps: each one transaction, idempotent (see ImportRunner). */
export function createImportActivities(deps: ActivityDeps) {
  const runner = new ImportRunner(deps.orm, deps.ledger);
  return {
    importBegin: (importId: string) => runner.begin(importId),
    importPostBatch: (req: { importId: string; after: number; limit: number }) => heartbeating(() => runner.postNext(req.importId, req.after, req.limit)),
    importFailed: (req: { importId: string; error: string }) => runner.fail(req.importId, req.error),
    importPostAll: (importId: string) => heartbeating(() => runner.postAll(importId)),
    importFinish: (importId: string) => runner.finish(importId),
  };
}

/** Heartbeats every 5 s while `fn` runs, so the server notices a dead worker within the heartbeat timeout. */
async function heartbeating<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), 5_000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}
