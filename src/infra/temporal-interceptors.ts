import type { Context as ActivityContext } from '@temporalio/activity';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { type Headers, defaultPayloadConverter } from '@temporalio/common';
import type { ActivityInterceptors } from '@temporalio/worker';
import { REQUEST_ID_HEADER, isValidRequestId } from '../shared/request-id';
import { metrics } from './metrics';
import { currentRequestId, requestContext } from './request-context';

/** The request id a Temporal header carries, when it carries a valid one. */
export function readRequestIdHeader(headers: Headers | undefined): string | undefined {
  const payload = headers?.[REQUEST_ID_HEADER];
  if (!payload) return undefined;
  try {
    const value = defaultPayloadConverter.fromPayload<unknown>(payload);
    return isValidRequestId(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The headers plus the current request's id (unchanged outside a request, or when one is already set). */
function withRequestId(headers: Headers): Headers {
  const requestId = currentRequestId();
  if (!requestId || headers[REQUEST_ID_HEADER]) return headers;
  return { ...headers, [REQUEST_ID_HEADER]: defaultPayloadConverter.toPayload(requestId) };
}

/**
 * Client side: every workflow start, signal, signal-with-start, update and
 * query made while serving an API request carries the request's id as the
 * `alluse-request-id` header (headers are not encrypted by the payload codec:
 * the id is no secret). The workflow interceptors (src/workflows/interceptors.ts)
 * pass it on to activities and child workflows.
 */
export const requestIdClientInterceptor: WorkflowClientInterceptor = {
  startWithDetails: (input, next) => next({ ...input, headers: withRequestId(input.headers) }),
  signal: (input, next) => next({ ...input, headers: withRequestId(input.headers) }),
  signalWithStart: (input, next) => next({ ...input, headers: withRequestId(input.headers) }),
  startUpdate: (input, next) => next({ ...input, headers: withRequestId(input.headers) }),
  startUpdateWithStart: (input, next) =>
    next({ ...input, workflowStartHeaders: withRequestId(input.workflowStartHeaders), updateHeaders: withRequestId(input.updateHeaders) }),
  query: (input, next) => next({ ...input, headers: withRequestId(input.headers) }),
};

/**
 * Worker side, one per activity execution: reads the request id header (set
 * by the workflow interceptors), runs the activity inside that request
 * context (so the engine's own loggers add it too), adds it to the
 * activity's `Context.log` lines, and times the execution into
 * `alluse_saga_step_seconds{activity, outcome="ok"|"error"}`.
 */
export function activityInterceptors(ctx: ActivityContext): ActivityInterceptors {
  let requestId: string | undefined;
  return {
    inbound: {
      execute: async (input, next) => {
        requestId = readRequestIdHeader(input.headers);
        const end = metrics.stepSeconds.startTimer({ activity: ctx.info.activityType });
        try {
          const result = await (requestId ? requestContext.run({ requestId }, () => next(input)) : next(input));
          end({ outcome: 'ok' });
          return result;
        } catch (err) {
          end({ outcome: 'error' });
          throw err;
        }
      },
    },
    outbound: {
      getLogAttributes: (input, next) => next(requestId ? { ...input, requestId } : input),
    },
  };
}
