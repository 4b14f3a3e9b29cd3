import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { money } from '../../domain/money';
import { type ProjectionResult, freshStart, project, projectionCsv } from '../../domain/projection';
import { TEMPLATE_NAMES, settingsOverridesSchema } from '../../domain/settings';
import type { AppDeps } from '../app';
import { defineRoute, type RouteResult } from '../route';
import { idParams, positiveMoney } from '../schemas';

/** Long projections cost seconds (the tree grows geometrically); 30 years is the ceiling. */
const years = z.coerce.number().int().min(1).max(30);
const Output = z.object({
  format: z.enum(['json', 'csv']).default('json'),
  granularity: z.enum(['year', 'week']).default('year'),
});
const ProjectionBody = z
  .object({
    initialCapital: positiveMoney,
    years,
    template: z.enum(TEMPLATE_NAMES).default('moderate'),
    settings: settingsOverridesSchema.optional(),
    marketMix: z.boolean().default(false),
    seed: z.number().int().min(0).max(2 ** 31).default(1),
  })
  .strict()
  .openapi('ProjectionRequest');
const Projection = z
  .object({
    years: z.array(z.record(z.string(), z.unknown())),
    forks: z.array(z.object({ week: z.number(), amount: z.string() })),
    merges: z.array(z.object({ week: z.number(), amount: z.string() })),
    weeks: z.array(z.record(z.string(), z.unknown())).optional(),
  })
  .openapi('Projection');

function render(r: ProjectionResult, out: z.output<typeof Output>): RouteResult {
  if (out.format === 'csv') return { status: 200, body: projectionCsv(r), contentType: 'text/csv; charset=utf-8' };
  return { status: 200, body: out.granularity === 'week' ? r : { years: r.years, forks: r.forks, merges: r.merges } };
}

export function projectionRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'post', path: '/v1/projections', role: 'viewer',
    summary: 'What-if: project a new portfolio week by week (?format=csv for weekly rows, ?granularity=week to include them in JSON)',
    query: Output, body: ProjectionBody,
    responses: { 200: { description: 'Projection', schema: Projection } },
    handler: async ({ body, query }) =>
      render(project(freshStart({ ...body, initialCapital: money(body.initialCapital) }), body), query),
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios/:id/projection', role: 'viewer', summary: "Project an existing portfolio from its current tree",
    params: idParams,
    query: Output.extend({
      years: years.default(10),
      marketMix: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
      seed: z.coerce.number().int().min(0).max(2 ** 31).default(1),
    }),
    responses: { 200: { description: 'Projection', schema: Projection } },
    handler: async ({ params, query }) => render(await deps.projections.forPortfolio(params.id, query), query),
  });
}
