import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import type { AppDeps } from '../app';
import { HttpProblem } from '../errors';
import { defineRoute } from '../route';
import { idParams } from '../schemas';

/** A query flag: only `true` and `false` (a coerced boolean would read "false" as true). */
const flag = z.enum(['true', 'false']).default('false').transform((v) => v === 'true');

const ImportQuery = z.object({
  format: z.enum(['csv', 'ibkr-flex']).optional().openapi({ description: 'Default: from the Content-Type (text/csv: csv; application/xml: ibkr-flex)' }),
  dryRun: flag.openapi({ description: 'true: answer 200 with what would be posted; nothing is stored' }),
  atomic: flag.openapi({ description: 'true: every line posts or none does' }),
});

const Problem = z.object({ line: z.number().int(), reason: z.string() });
const Reconciliation = z.object({
  accountId: z.string(), brokerAccountId: z.string().nullable(), date: z.string(), line: z.number().int(),
  statementBalance: z.string(), engineBalance: z.string(), difference: z.string(),
});
const Valuation = z.object({
  accountId: z.string(), date: z.string(), line: z.number().int(), value: z.string(), engineBalance: z.string(), unrealized: z.string(),
});
const ImportView = z
  .object({
    id: z.string(), portfolioId: z.string(), operationId: z.string(), format: z.string(), atomic: z.boolean(),
    status: z.enum(['queued', 'running', 'completed', 'failed']),
    lines: z.number().int(), pending: z.number().int(), posted: z.number().int(), duplicates: z.number().int(),
    rejected: z.array(Problem), ignored: z.array(Problem), reconciliation: z.array(Reconciliation), valuations: z.array(Valuation),
    error: z.string().nullable(), createdAt: z.string(), completedAt: z.string().nullable(),
  })
  .openapi('Import');

const CONTENT_TYPES = ['text/csv', 'application/xml', 'text/xml', 'text/plain'];

export function importRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'post', path: '/v1/portfolios/:id/imports', operationId: 'importStatement', tag: 'Imports', role: 'operator',
    summary: 'Import a broker statement (generic CSV or Interactive Brokers Flex Query XML), up to 20 MiB',
    params: idParams,
    query: ImportQuery,
    rawBody: { contentTypes: CONTENT_TYPES, description: 'The statement file as is' },
    responses: {
      200: { description: 'Dry run: what would be posted, and the reconciliation it would give' },
      202: { description: 'Started: follow it at GET /v1/imports/{importId}', schema: z.object({ importId: z.string(), operationId: z.string() }) },
      413: { description: 'The file is larger than 20 MiB' },
      415: { description: 'The body is not text/csv or application/xml' },
    },
    handler: async ({ params, query, req, principal }) => {
      if (typeof req.body !== 'string') {
        throw new HttpProblem(415, 'Unsupported Media Type', 'send the statement file as the body with Content-Type text/csv or application/xml');
      }
      if (req.body.trim() === '') throw new HttpProblem(400, 'Bad Request', 'the statement file is empty');
      const format = query.format ?? (req.is('xml') ? 'ibkr-flex' : 'csv');
      const r = await deps.imports.create(params.id, req.body, { format, dryRun: query.dryRun, atomic: query.atomic }, principal.actor);
      if ('dryRun' in r) return { status: 200, body: r };
      return { status: 202, body: r, headers: { Location: `/v1/imports/${r.importId}` } };
    },
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/imports/:id', operationId: 'getImport', tag: 'Imports', role: 'viewer', summary: 'An import: progress, counts, rejected lines, reconciliation',
    params: idParams,
    responses: { 200: { description: 'The import', schema: ImportView } },
    handler: async ({ params }) => ({ status: 200, body: await deps.imports.get(params.id) }),
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios/:id/imports', operationId: 'listImports', tag: 'Imports', role: 'viewer', summary: "A portfolio's imports, newest first (the last 100)",
    params: idParams,
    responses: { 200: { description: 'Imports', schema: z.object({ items: z.array(ImportView) }) } },
    handler: async ({ params }) => ({ status: 200, body: { items: await deps.imports.list(params.id) } }),
  });
}
