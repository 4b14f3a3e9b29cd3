import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import express, { type Router } from 'express';
import type { AppDeps } from './app';
import { accountRoutes } from './routes/accounts';
import { adminRoutes } from './routes/admin';
import { batchRoutes } from './routes/batch';
import { exportRoutes } from './routes/exports';
import { importRoutes } from './routes/imports';
import { operationRoutes } from './routes/operations';
import { portfolioRoutes } from './routes/portfolios';
import { projectionRoutes } from './routes/projections';
import { reportRoutes } from './routes/reports';
import { sessionRoutes } from './routes/session';
import { taskRoutes } from './routes/tasks';
import { webhookRoutes } from './routes/webhooks';

/** The document's tags, in the order a reader meets them. */
export const TAGS = [
  { name: 'Session', description: 'Who is calling: the API key of the request and its role (what a client may offer), and where the Temporal Web UI is.' },
  { name: 'Portfolios', description: 'Portfolios, their settings, unit tree, integrity proof and export.' },
  { name: 'Accounts', description: 'Accounts, their ledger postings, and recording trading activity one by one or in bulk.' },
  { name: 'Operations', description: 'Forks, merges, reinvestments and threshold scans: durable Temporal workflows, and their progress.' },
  { name: 'Tasks', description: 'What waits on a person: approvals and manual broker steps.' },
  { name: 'Imports', description: 'Broker statements in (generic CSV, Interactive Brokers Flex Query XML).' },
  { name: 'Reports', description: 'Growth and time-weighted return, fork efficiency, merge outcomes, the unit tree.' },
  { name: 'Projections', description: 'What-if projections of the method, week by week.' },
  { name: 'Webhooks', description: 'Signed event deliveries to your URLs.' },
  { name: 'Schedules', description: 'The Temporal Schedules the engine owns (the threshold scan, the quarterly reinvestment).' },
  { name: 'Admin', description: 'API keys and the hash-chained audit log.' },
] as const;
export type Tag = (typeof TAGS)[number]['name'];

/** Every /v1 route, on a router, with its description in a registry: one declaration serves both. */
export function v1Routes(deps: AppDeps): { router: Router; registry: OpenAPIRegistry } {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key (`alu_...`): the console prints an admin key on first start; admins create more with POST /v1/api-keys.',
  });
  const router = express.Router();
  for (const register of [
    sessionRoutes, portfolioRoutes, accountRoutes, operationRoutes, projectionRoutes, reportRoutes, exportRoutes,
    taskRoutes, adminRoutes, webhookRoutes, batchRoutes, importRoutes,
  ]) register(router, registry, deps);
  return { router, registry };
}

/** The OpenAPI 3.1 document of the /v1 routes registered in `registry`. */
export function openApiDocument(registry: OpenAPIRegistry): Record<string, unknown> {
  const doc = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'ALL-USE Engine API',
      version: '1',
      description:
        'Portfolios, accounts and the exact double-entry ledger of the ALL-USE method; forks, merges and reinvestments as durable workflows. ' +
        'Amounts are decimal strings. Errors are RFC 9457 problem documents (`application/problem+json`).',
      license: { name: 'UNLICENSED (proprietary)', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [{ url: '/', description: 'The engine serving this document' }],
    tags: TAGS.map((t) => ({ ...t })),
  });
  return doc as unknown as Record<string, unknown>;
}

/**
 * The document without a running engine (for the generated client and the
 * linter): the routes are declared against dependencies that throw if a
 * handler ever ran.
 */
export function standaloneApiDocument(): Record<string, unknown> {
  const absent = new Proxy({} as AppDeps, {
    get: (_t, name) => {
      throw new Error(`standaloneApiDocument: a route used deps.${String(name)} while being declared`);
    },
  });
  return openApiDocument(v1Routes(absent).registry);
}
