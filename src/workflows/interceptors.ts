/**
 * Workflow interceptors (bundled with the workflows: `interceptors.workflowModules`
 * or `bundleWorkflowCode({ workflowInterceptorModules })`). They carry the API
 * request id that started a run (the `alluse-request-id` header, set by the
 * client interceptor in src/infra/temporal-interceptors.ts) on to the run's
 * activities, local activities, child workflows and continue-as-new, and add
 * it to the run's `log` lines as `requestId`.
 *
 * Replay-safe: they only add headers and log attributes; the commands a run
 * issues, and their order, are unchanged.
 */
import {
  type WorkflowExecuteInput,
  type WorkflowInterceptors,
  defaultPayloadConverter,
} from '@temporalio/workflow';
import { REQUEST_ID_HEADER, isValidRequestId } from '../shared/request-id';

type Headers = WorkflowExecuteInput['headers'];

export function interceptors(): WorkflowInterceptors {
  // One factory call per run: this state is the run's own.
  let requestId: string | undefined;
  let header: Headers[string] | undefined;
  const pass = <T extends { readonly headers: Headers }>(input: T): T =>
    header && !input.headers[REQUEST_ID_HEADER] ? { ...input, headers: { ...input.headers, [REQUEST_ID_HEADER]: header } } : input;

  return {
    inbound: [
      {
        execute: (input, next) => {
          const h = input.headers[REQUEST_ID_HEADER];
          let value: unknown;
          try {
            value = h ? defaultPayloadConverter.fromPayload(h) : undefined;
          } catch {
            value = undefined;
          }
          if (isValidRequestId(value)) {
            requestId = value;
            header = h;
          }
          return next(input);
        },
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) => next(pass(input)),
        scheduleLocalActivity: (input, next) => next(pass(input)),
        startChildWorkflowExecution: (input, next) => next(pass(input)),
        continueAsNew: (input, next) => next(pass(input)),
        getLogAttributes: (input, next) => next(requestId ? { ...input, requestId } : input),
      },
    ],
  };
}
