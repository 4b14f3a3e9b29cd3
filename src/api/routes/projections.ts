import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { DomainError } from '../../domain/errors';
import { money } from '../../domain/money';
import {
  MAX_EXACT_AMOUNT, MAX_EXACT_AMOUNT_TEXT, type ProjectionResult, ProjectionRangeError, freshStart, project, projectionCsv,
} from '../../domain/projection';
import { TEMPLATE_NAMES, settingsOverridesSchema } from '../../domain/settings';
import type { AppDeps } from '../app';
import { defineRoute, type RouteResult } from '../route';
import { Problem, idParams, positiveMoney } from '../schemas';

const EXACT_LIMIT =
  `Every amount of a projection (each account, the portfolio total) must stay at or below ${MAX_EXACT_AMOUNT}, ` +
  'the largest amount it computes exactly (2^53 - 1 cents); a projection that would pass it is answered 422, never rounded.';

/** Long projections cost seconds (the tree grows geometrically); 30 years is the ceiling. */
const years = z.coerce.number().int().min(1).max(30).openapi({
  description: `Years to project, 1-30. ${EXACT_LIMIT} The 422 names the year the growth would pass it; fewer years stay exact.`,
});
const Output = z.object({
  format: z.enum(['json', 'csv']).default('json'),
  granularity: z.enum(['year', 'week']).default('year'),
});
const ProjectionBody = z
  .object({
    initialCapital: positiveMoney.openapi({
      description: `At most ${MAX_EXACT_AMOUNT} for a projection (a larger amount is answered 422). ${EXACT_LIMIT}`,
    }),
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

const OUT_OF_RANGE = {
  422: { description: `The projection would pass ${MAX_EXACT_AMOUNT_TEXT}, the largest amount it computes exactly (the problem says which input to lower)`, schema: Problem },
};

/** Input the engine cannot compute exactly: a 422 naming the field to change, never a 500. */
function unprocessable(path: string, detail: string): DomainError {
  return new DomainError('OutOfRange', detail, { path });
}

/**
 * Runs a projection, turning ProjectionRangeError into a 422. `fields` says
 * what to lower: `years` when some years stayed exact, else `start` (the
 * amounts the projection starts from).
 */
function exactly<T>(run: () => T, fields: { years: string; start: string; startHint: string; yearsHint: string }): T {
  try {
    return run();
  } catch (err) {
    if (!(err instanceof ProjectionRangeError)) throw err;
    const exactYears = Math.max(err.year - 1, 0);
    if (exactYears === 0) throw unprocessable(fields.start, `${err.message}; ${fields.startHint}`);
    throw unprocessable(fields.years, `${err.message}; ${fields.yearsHint} (it stays exact for ${exactYears} year${exactYears === 1 ? '' : 's'})`);
  }
}

function render(r: ProjectionResult, out: z.output<typeof Output>): RouteResult {
  if (out.format === 'csv') return { status: 200, body: projectionCsv(r), contentType: 'text/csv; charset=utf-8' };
  return { status: 200, body: out.granularity === 'week' ? r : { years: r.years, forks: r.forks, merges: r.merges } };
}

export function projectionRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'post', path: '/v1/projections', role: 'viewer',
    summary: 'What-if: project a new portfolio week by week (?format=csv for weekly rows, ?granularity=week to include them in JSON)',
    query: Output, body: ProjectionBody,
    responses: { 200: { description: 'Projection', schema: Projection }, ...OUT_OF_RANGE },
    handler: async ({ body, query }) => {
      const initialCapital = money(body.initialCapital);
      // Checked up front: the starting amounts alone would already be out of range.
      if (initialCapital.gt(MAX_EXACT_AMOUNT)) {
        throw unprocessable('body.initialCapital', `initialCapital is above ${MAX_EXACT_AMOUNT_TEXT}, the largest amount a projection computes exactly; lower initialCapital`);
      }
      const result = exactly(() => project(freshStart({ ...body, initialCapital }), body), {
        years: 'body.years', yearsHint: 'lower initialCapital or years',
        start: 'body.initialCapital', startHint: 'lower initialCapital',
      });
      return render(result, query);
    },
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios/:id/projection', role: 'viewer', summary: "Project an existing portfolio from its current tree",
    params: idParams,
    query: Output.extend({
      years: years.default(10),
      marketMix: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
      seed: z.coerce.number().int().min(0).max(2 ** 31).default(1),
    }),
    responses: { 200: { description: 'Projection', schema: Projection }, ...OUT_OF_RANGE },
    handler: async ({ params, query }) => {
      const start = await deps.projections.startOf(params.id);
      const result = exactly(() => project(start, query), {
        years: 'query.years', yearsHint: 'lower years',
        start: 'params.id', startHint: 'this portfolio is too large to project exactly',
      });
      return render(result, query);
    },
  });
}
