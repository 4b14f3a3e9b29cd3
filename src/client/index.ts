/**
 * The engine's typed HTTP client: openapi-fetch over the types that
 * openapi-typescript generates from the API's own OpenAPI document
 * (`npm run client:generate`; `npm test` fails when they are stale).
 *
 *   const api = createAlluseClient({ baseUrl: 'http://127.0.0.1:3000', apiKey });
 *   const portfolio = await ok(api.GET('/v1/portfolios/{id}', { params: { path: { id } } }));
 *
 * `ok` returns the response's data or throws an `ApiError` carrying the
 * server's problem document (RFC 9457), so callers branch on `err.status`
 * and `err.code` (`InsufficientFunds`, `NotEligible`, ...), never on text.
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './schema';

export type { components, operations, paths } from './schema';
export type Schemas = components['schemas'];
export type Problem = Schemas['Problem'];
export type AlluseClient = Client<paths>;

export interface AlluseClientOptions {
  /** The engine's origin, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>`; omit for the public routes. */
  apiKey?: string;
  /** For tests and instrumentation; the global fetch otherwise. */
  fetch?: (input: Request) => Promise<Response>;
  /** Sent as User-Agent, so the server's access log says who called. */
  userAgent?: string;
}

/** A non-2xx answer, with the server's problem document (or one made up from the status when the body was not one). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly headers?: Headers,
  ) {
    super(problem.detail);
    this.name = 'ApiError';
  }

  /** The business error's type (`NotEligible`, `Conflict`, ...) when the server gave one. */
  get code(): string | undefined {
    return this.problem.code;
  }
}

export function createAlluseClient(opts: AlluseClientOptions): AlluseClient {
  const headers: Record<string, string> = {};
  if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
  if (opts.userAgent) headers['user-agent'] = opts.userAgent;
  return createClient<paths>({ baseUrl: opts.baseUrl.replace(/\/+$/, ''), headers, ...(opts.fetch && { fetch: opts.fetch }) });
}

interface Answer {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** The data of a successful answer; an `ApiError` otherwise. */
export async function ok<R extends Answer>(call: Promise<R>): Promise<Exclude<R['data'], undefined>> {
  const answer = await call;
  if (answer.response.ok) return answer.data as Exclude<R['data'], undefined>;
  throw toApiError(answer.response, answer.error);
}

/** An `ApiError` from a failed response and its parsed body. */
export function toApiError(response: Response, body: unknown): ApiError {
  return new ApiError(response.status, asProblem(response, body), response.headers);
}

function asProblem(response: Response, body: unknown): Problem {
  if (body && typeof body === 'object' && typeof (body as Problem).detail === 'string') {
    return { type: 'about:blank', title: response.statusText, status: response.status, ...(body as Partial<Problem>) } as Problem;
  }
  return {
    type: 'about:blank',
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    detail: `the server answered ${response.status} ${response.statusText} without a problem document`.replace(/ +/g, ' '),
  };
}
