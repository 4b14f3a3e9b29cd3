import { ImportRunner } from '../services/import-lines';
import type { ActivityDeps } from './common';

/** The import workflow's steps: each one transaction, idempotent (see ImportRunner). */
export function createImportActivities(deps: ActivityDeps) {
  const runner = new ImportRunner(deps.orm, deps.ledger);
  return {
    importBegin: (importId: string) => runner.begin(importId),
    importPostBatch: (req: { importId: string; after: number; limit: number }) => runner.postNext(req.importId, req.after, req.limit),
    importFailed: (req: { importId: string; error: string }) => runner.fail(req.importId, req.error),
    importPostAll: (importId: string) => runner.postAll(importId),
    importFinish: (importId: string) => runner.finish(importId),
  };
}
