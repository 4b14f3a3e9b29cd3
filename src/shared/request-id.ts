/**
 * Request ids: the API takes a caller's `X-Request-Id` (or makes one) and
 * carries it, as the Temporal header below, into the workflow and activity
 * logs of what the request started. Pure: shared by the API, the worker and
 * the workflow sandbox.
 */

/** The Temporal header (workflow start, activities, child workflows) that carries the request id. */
export const REQUEST_ID_HEADER = 'alluse-request-id';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** True for an id a caller may choose: 1–100 characters of [A-Za-z0-9._-]. */
export function isValidRequestId(value: unknown): value is string {
  return typeof value === 'string' && REQUEST_ID.test(value);
}
