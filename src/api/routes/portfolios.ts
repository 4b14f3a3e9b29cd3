import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { DomainError } from '../../domain/errors';
import { money } from '../../domain/money';
import type { AppDeps } from '../app';
import { defineRoute } from '../route';
import { CreatePortfolioBody, Integrity, Portfolio, PortfolioSummary, SettingsOverrides, idParams } from '../schemas';

export function portfolioRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'post', path: '/v1/portfolios', operationId: 'createPortfolio', tag: 'Portfolios', role: 'operator', summary: 'Create a portfolio with its root unit',
    body: CreatePortfolioBody,
    responses: { 201: { description: 'Created', schema: Portfolio } },
    handler: async ({ body, principal }) => {
      const created = await deps.portfolios.create({ ...body, initialCapital: money(body.initialCapital) }, principal.actor);
      return { status: 201, body: created, headers: { Location: `/v1/portfolios/${created.id}` } };
    },
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios', operationId: 'listPortfolios', tag: 'Portfolios', role: 'viewer', summary: 'List portfolios',
    responses: { 200: { description: 'Portfolios', schema: z.object({ items: z.array(PortfolioSummary) }) } },
    handler: async () => ({ status: 200, body: { items: await deps.portfolios.list() } }),
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios/:id', operationId: 'getPortfolio', tag: 'Portfolios', role: 'viewer', summary: 'A portfolio with its unit tree and accounts',
    params: idParams,
    responses: { 200: { description: 'Portfolio', schema: Portfolio } },
    handler: async ({ params }) => {
      const p = await deps.portfolios.get(params.id);
      if (!p) throw new DomainError('NotFound', 'portfolio not found');
      return { status: 200, body: p };
    },
  });

  defineRoute(router, registry, {
    method: 'patch', path: '/v1/portfolios/:id/settings', operationId: 'updatePortfolioSettings', tag: 'Portfolios', role: 'admin', summary: 'Change portfolio settings',
    params: idParams,
    body: SettingsOverrides,
    responses: { 200: { description: 'Portfolio', schema: Portfolio } },
    handler: async ({ params, body, principal }) => ({
      status: 200,
      body: await deps.portfolios.updateSettings(params.id, body, principal.actor),
    }),
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios/:id/integrity', operationId: 'checkIntegrity', tag: 'Portfolios', role: 'viewer', summary: 'Prove the ledger invariants',
    params: idParams,
    responses: { 200: { description: 'Integrity report', schema: Integrity } },
    handler: async ({ params }) => ({ status: 200, body: await deps.integrity.check(params.id) }),
  });
}
