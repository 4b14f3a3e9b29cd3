import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { StepRecord } from './operations';
import type { TaskState } from './tasks';

/**
 * The protocol workflows' `progress` query. Defined apart from the saga so
 * the API can query it without loading any workflow code.
 */
export const progressQuery = defineQuery<{ steps: StepRecord[] }>('progress');

/** Sent by the API after it recorded a task's decision; the workflow also reads decisions at every reminder and at its deadline. */
export const taskDecidedSignal = defineSignal<[TaskState]>('taskDecided');
