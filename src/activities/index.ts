import { type ActivityDeps, retriedUntilDone, withBusinessFailures } from './common';
import { createForkActivities } from './fork';
import { createMergeActivities } from './merge';
import { createReinvestActivities } from './reinvest';
import { createScanActivities } from './scan';
import { createTaskActivities } from './tasks';
import { createImportActivities } from './imports';

/**
 * Every activity the worker registers, built once with its dependencies.
 * Forward steps report business rejections as non-retryable (the saga then
 * compensates); undos, and the steps after a saga's point of no return, are
 * retried until they succeed, whatever they throw.
 */
export function createActivities(deps: ActivityDeps) {
  const fork = createForkActivities(deps);
  const merge = createMergeActivities(deps);
  const reinvest = createReinvestActivities(deps);
  const tasks = createTaskActivities(deps);
  return {
    ...withBusinessFailures({ ...fork.steps, ...merge.steps, ...reinvest.steps, ...createScanActivities(deps), ...tasks.steps, ...createImportActivities(deps) }),
    ...retriedUntilDone({ ...fork.undos, ...merge.undos, ...merge.untilDone, ...reinvest.undos, ...tasks.tasks }),
  };
}
export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps };
