import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response, Router } from 'express';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z, type ZodType } from 'zod';
import { type Logger, createLogger } from '../infra/logger';
import type { Principal, Role } from '../services/api-keys';
import { ExportsBusy } from '../services/exports';
import { HttpProblem, zodFields } from './errors';
import { Problem } from './schemas';
import { requireRole } from './auth';
import type { Tag } from './openapi';

type Method = 'get' | 'post' | 'patch' | 'delete';

export interface RouteContext<P, Q, B, H> {
  params: P;
  query: Q;
  body: B;
  headers: H;
  principal: Principal;
  req: Request;
  res: Response;
}

export interface RouteResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Set for a non-JSON body (then `body` is sent as is). */
  contentType?: string;
  /**
   * A body too large to hold in memory, written piece by piece as the client
   * reads it (with `contentType`, default JSON). Its first piece is read
   * before the status is sent, so a failure to start (a 404, ExportsBusy: a
   * 503 with Retry-After) is a problem response; a failure after that is
   * logged and aborts the connection, so a client never takes a truncated
   * body for a whole one. `deadline`, when given, aborts it the same way.
   */
  stream?: AsyncIterable<string> & { deadline?: AbortSignal };
}

export interface RouteSpec<P extends ZodType, Q extends ZodType, B extends ZodType, H extends ZodType> {
  method: Method;
  path: string;
  /** Stable: generated clients name their methods by it. */
  operationId: string;
  tag: Tag;
  summary: string;
  role: Role;
  params?: P;
  query?: Q;
  body?: B;
  /** A non-JSON body (a file), read from `req.body` by the handler: its media types and description, for /openapi.json. */
  rawBody?: { contentTypes: string[]; description: string };
  headers?: H;
  /** `mediaTypes`: the body's media types when not only JSON (the schema describes the JSON one; others are text). */
  responses: Record<number, { description: string; schema?: ZodType; mediaTypes?: string[] }>;
  handler(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>, z.output<H>>): Promise<RouteResult>;
}

const ERROR_RESPONSES = {
  400: 'Invalid input',
  401: 'Missing or invalid API key',
  403: 'Role too low',
  404: 'Unknown id',
  500: 'Internal error (no details)',
};

function parse<T extends ZodType>(schema: T | undefined, value: unknown, where: string): z.output<T> {
  if (!schema) return undefined as z.output<T>;
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new HttpProblem(400, 'Bad Request', `the request ${where} is invalid`, {
      errors: zodFields(result.error).map((f) => ({ ...f, path: `${where}.${f.path}`.replace(/\.\(body\)$/, '') })),
    });
  }
  return result.data;
}

/** A response's media types for /openapi.json: JSON with its schema, any other as a string (CSV, SVG). */
function responseContent(schema: ZodType | undefined, mediaTypes = ['application/json']): Record<string, { schema: ZodType }> {
  return Object.fromEntries(mediaTypes.map((t) => [t, { schema: t === 'application/json' && schema ? schema : z.string() }]));
}

/**
 * Declares one endpoint once: the same zod schemas validate the request at
 * run time and describe it in /openapi.json.
 */
export function defineRoute<P extends ZodType, Q extends ZodType, B extends ZodType, H extends ZodType>(
  router: Router,
  registry: OpenAPIRegistry,
  spec: RouteSpec<P, Q, B, H>,
): void {
  const openApiPath = spec.path.replace(/:([A-Za-z]+)/g, '{$1}');
  registry.registerPath({
    method: spec.method,
    path: openApiPath,
    operationId: spec.operationId,
    tags: [spec.tag],
    summary: spec.summary,
    description: `Requires role \`${spec.role}\` or higher.`,
    security: [{ bearerAuth: [] }],
    request: {
      params: spec.params as never,
      query: spec.query as never,
      headers: spec.headers as never,
      body: spec.body
        ? { content: { 'application/json': { schema: spec.body } } }
        : spec.rawBody
          ? { description: spec.rawBody.description, required: true, content: Object.fromEntries(spec.rawBody.contentTypes.map((t) => [t, { schema: z.string() }])) }
          : undefined,
    },
    responses: {
      ...Object.fromEntries(
        Object.entries(spec.responses).map(([status, r]) => [
          status,
          { description: r.description, ...((r.schema || r.mediaTypes) && { content: responseContent(r.schema, r.mediaTypes) }) },
        ]),
      ),
      ...Object.fromEntries(
        Object.entries(ERROR_RESPONSES).map(([s, d]) => [s, { description: d, content: { 'application/problem+json': { schema: Problem } } }]),
      ),
    },
  });

  const handler: RequestHandler = async (req, res) => {
    const ctx = {
      params: parse(spec.params, req.params, 'params'),
      query: parse(spec.query, req.query, 'query'),
      headers: parse(spec.headers, req.headers, 'headers'),
      body: parse(spec.body, req.body ?? {}, 'body'),
      principal: res.locals.principal as Principal,
      req,
      res,
    };
    const result = await spec.handler(ctx);
    for (const [k, v] of Object.entries(result.headers ?? {})) res.setHeader(k, v);
    if (result.stream) await sendStream(req, res, { ...result, stream: result.stream });
    else if (result.body === undefined) res.status(result.status).end();
    else if (result.contentType) res.status(result.status).type(result.contentType).send(result.body);
    else res.status(result.status).json(result.body);
  };
  router[spec.method](spec.path, requireRole(spec.role), handler);
}

let ownLog: Logger | undefined;
/** The app's logger (`res.locals.log` or `app.locals.log`), else one of this module's own: a failed download is never unlogged. */
const logOf = (req: Request, res: Response): Logger =>
  (res.locals.log ?? req.app.locals.log ?? (ownLog ??= createLogger('api'))) as Logger;

/** The client closed the connection: no failure of ours. */
const CLIENT_LEFT = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE', 'ERR_STREAM_DESTROYED']);

/** Sends `result.stream` as RouteResult describes it. */
async function sendStream(req: Request, res: Response, result: RouteResult & Required<Pick<RouteResult, 'stream'>>): Promise<void> {
  const pieces = result.stream[Symbol.asyncIterator]();
  let first: IteratorResult<string>;
  try {
    first = await pieces.next();
  } catch (err) {
    // Nothing sent yet: the error handler answers; the body's own headers (an attachment's name) do not belong on the problem.
    for (const name of Object.keys(result.headers ?? {})) res.removeHeader(name);
    if (!(err instanceof ExportsBusy)) throw err;
    res.setHeader('Retry-After', String(err.retryAfterSeconds));
    throw new HttpProblem(503, 'Service Unavailable', err.message, { code: 'ExportsBusy', retryAfter: err.retryAfterSeconds });
  }
  const body = Readable.from(resume(first, pieces), { objectMode: false });
  try {
    await pipeline(body, res.status(result.status).type(result.contentType ?? 'json'), { signal: result.stream.deadline });
  } catch (err) {
    // The status and part of the body are out: all that is left is to break the connection, so the download fails visibly.
    res.destroy();
    const log = logOf(req, res);
    const where = { method: req.method, path: req.path };
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && CLIENT_LEFT.has(code)) log.debug('streamed response: the client went away', where);
    else {
      const errorId = randomUUID();
      log.error(result.stream.deadline?.aborted ? 'streamed response aborted at its deadline' : 'streamed response failed', {
        errorId, ...where, error: String((err as Error)?.stack ?? err),
      });
    }
  } finally {
    // However it ended, the source ends too (its transaction, its slot); a no-op when it already has.
    pieces.return?.(undefined).catch(() => undefined);
  }
}

/** `first`, then the rest of `rest`; ending this early ends `rest`. */
async function* resume(first: IteratorResult<string>, rest: AsyncIterator<string>): AsyncGenerator<string> {
  try {
    if (first.done) return;
    yield first.value;
    for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
  } finally {
    await rest.return?.(undefined);
  }
}
