import { defineQuery } from '@temporalio/workflow';
import type { StepRecord } from './operations';

/**
 * The protocol workflows' `progress` query. Defined apart from the saga so
 * the API can query it without loading any workflow code.
 */
export const progressQuery = defineQuery<{ steps: StepRecord[] }>('progress');
