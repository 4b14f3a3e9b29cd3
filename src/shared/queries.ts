import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { StepRecord } from './operations';
import type { PlanAnswer } from './start-plan';
import type { TaskState } from './tasks';

/**
 * The protocol workflows' `progress` query. Defined apart from the saga so
 * the API can query it without loading any workflow code.
 */
export const progressQuery = defineQuery<{ steps: StepRecord[] }>('progress');

/** Sent by the API after it recorded a task's decision; the workflow also reads decisions at every reminder and at its deadline. */
export const taskDecidedSignal = defineSignal<[TaskState]>('taskDecided');

/**
 * The protocol workflows' `plan` update: answers once the run has fixed its
 * plan (src/shared/start-plan.ts), or knows it cannot yet. The API sends it
 * right after the start, so the 202 carries the plan without waiting for the run.
 */
export const planUpdate = defineUpdate<PlanAnswer>('plan');

/** The same answer at once (`pending` while nothing is decided); it also answers for a closed run, which an update cannot reach. */
export const planQuery = defineQuery<PlanAnswer>('plan');
