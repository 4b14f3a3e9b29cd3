import { AsyncLocalStorage } from 'node:async_hooks';
import { v7 as uuidv7 } from 'uuid';
import { isValidRequestId } from '../shared/request-id';

/** What follows one API request (or one activity execution) through its async calls. */
export interface RequestContext {
  requestId: string;
}

/**
 * Set by the API's first middleware for the rest of the request and by the
 * activity interceptor for an activity's execution. The logger adds its
 * `requestId` to every line; the Temporal client interceptor sends it as a
 * header with every workflow start, signal, update and query.
 */
export const requestContext = new AsyncLocalStorage<RequestContext>();

export function currentRequestId(): string | undefined {
  return requestContext.getStore()?.requestId;
}

/** The caller's `X-Request-Id` when it is 1–100 characters of [A-Za-z0-9._-], else a new uuid v7. */
export function requestIdFrom(header: string | undefined): string {
  return isValidRequestId(header) ? header : uuidv7();
}
