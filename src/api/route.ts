import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Request, RequestHandler, Response, Router } from 'express';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z, type ZodType } from 'zod';
import type { Principal, Role } from '../services/api-keys';
import { HttpProblem, zodFields } from './errors';
import { Problem } from './schemas';
import { requireRole } from './auth';

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
   * reads it (with `contentType`, default JSON). Check what can fail (a 404)
   * before returning it: a failure while streaming aborts the connection, so
   * a client never takes a truncated body for a whole one.
   */
  stream?: AsyncIterable<string>;
}

export interface RouteSpec<P extends ZodType, Q extends ZodType, B extends ZodType, H extends ZodType> {
  method: Method;
  path: string;
  summary: string;
  role: Role;
  params?: P;
  query?: Q;
  body?: B;
  /** A non-JSON body (a file), read from `req.body` by the handler: its media types and description, for /openapi.json. */
  rawBody?: { contentTypes: string[]; description: string };
  headers?: H;
  responses: Record<number, { description: string; schema?: ZodType }>;
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
          { description: r.description, ...(r.schema && { content: { 'application/json': { schema: r.schema } } }) },
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
    if (result.stream) await pipeline(Readable.from(result.stream, { objectMode: false }), res.status(result.status).type(result.contentType ?? 'json'));
    else if (result.body === undefined) res.status(result.status).end();
    else if (result.contentType) res.status(result.status).type(result.contentType).send(result.body);
    else res.status(result.status).json(result.body);
  };
  router[spec.method](spec.path, requireRole(spec.role), handler);
}
