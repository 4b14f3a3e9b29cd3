import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import type { AppDeps } from '../app';
import { defineRoute } from '../route';
import { Account, PortfolioSummary, idParams } from '../schemas';

const money = z.string().openapi({ example: '120000.00' });
/** Rows of a table as stored, with camelCase keys (docs/domain.md describes the fields). */
const records = z.array(z.record(z.string(), z.unknown()));

const PortfolioExport = z
  .object({
    exportedAt: z.string().openapi({ description: 'The instant of the snapshot every part was read from' }),
    portfolio: PortfolioSummary,
    units: records,
    accounts: z.array(Account.extend({
      type: z.enum(['gen', 'rev', 'com', 'external', 'holding']),
      lastForkAt: z.string().nullable(),
    })),
    entries: z.array(z.object({
      id: z.string(),
      kind: z.string(),
      occurredAt: z.string(),
      createdAt: z.string(),
      idempotencyKey: z.string(),
      operationId: z.string().nullable(),
      actor: z.string(),
      reference: z.string().nullable(),
      note: z.string().nullable(),
      reversesEntryId: z.string().nullable(),
      baseChanges: z.array(z.object({ accountId: z.string(), delta: money })),
      postings: z.array(z.object({ accountId: z.string(), bucket: z.string(), amount: money })),
    })).openapi({ description: 'Every journal entry in creation (id) order; the postings of each sum to zero' }),
    events: z.object({ forks: records, merges: records, reinvestments: records }),
    tasks: records,
    imports: records,
    valuations: records,
  })
  .openapi('PortfolioExport');

export function exportRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios/:id/export', operationId: 'exportPortfolio', tag: 'Portfolios', role: 'viewer',
    summary: 'The whole portfolio as one JSON document (tree, accounts, every journal entry with its postings, records), streamed',
    params: idParams,
    responses: {
      200: { description: 'The export, as an attachment', schema: PortfolioExport },
      503: { description: 'As many exports as the server allows at once are running: retry after the Retry-After seconds (problem code ExportsBusy)' },
    },
    handler: async ({ params }) => ({
      status: 200,
      stream: await deps.exports.portfolioJson(params.id),
      headers: { 'Content-Disposition': `attachment; filename="portfolio-${params.id}.json"` },
    }),
  });
}
