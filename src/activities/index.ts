import { type ActivityDeps, withBusinessFailures } from './common';
import { createForkActivities } from './fork';
import { createMergeActivities } from './merge';
import { createReinvestActivities } from './reinvest';
import { createScanActivities } from './scan';

/** Every activity the worker registers, built once with its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return withBusinessFailures({
    ...createForkActivities(deps),
    ...createMergeActivities(deps),
    ...createReinvestActivities(deps),
    ...createScanActivities(deps),
  });
}
export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps };
