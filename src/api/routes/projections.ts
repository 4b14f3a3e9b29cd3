import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type Decimal from 'decimal.js';
import type { Response, Router } from 'express';
import { z } from 'zod';
import { DomainError } from '../../domain/errors';
import { Dec, money } from '../../domain/money';
import { MAX_EXACT_AMOUNT, MAX_EXACT_AMOUNT_TEXT, ProjectionRangeError, freshStart } from '../../domain/projection';
import { TEMPLATE_NAMES, settingsOverridesSchema } from '../../domain/settings';
import { ProjectionBudgetExceeded, ProjectionsBusy } from '../../projection/pool';
import type { Document } from '../../projection/tasks';
import type { AppDeps } from '../app';
import { HttpProblem } from '../errors';
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
/** The fields a new portfolio's projection and a comparison of variants share. */
const newPortfolio = {
  initialCapital: positiveMoney.openapi({
    description: `At most ${MAX_EXACT_AMOUNT} for a projection (a larger amount is answered 422). ${EXACT_LIMIT}`,
  }),
  years,
  marketMix: z.boolean().default(false),
  seed: z.number().int().min(0).max(2 ** 31).default(1),
};
const rules = {
  template: z.enum(TEMPLATE_NAMES).default('moderate'),
  settings: settingsOverridesSchema.optional(),
};
const ProjectionBody = z.object({ ...newPortfolio, ...rules }).strict().openapi('ProjectionRequest');
const byType = { gen: z.string(), rev: z.string(), com: z.string(), forked: z.string() };
const ProjectionYear = z
  .object({
    year: z.number().int(),
    marketYear: z.string(),
    total: z.string(),
    byType: z.object(byType),
    income: z.string(),
    activeForkedUnits: z.number().int(),
    forkedUnitsCreated: z.number().int(),
    forks: z.number().int(),
    merges: z.number().int(),
  })
  .openapi('ProjectionYear', { description: 'The state at the end of one projected year; amounts are decimal strings.' });
const ProjectionWeek = z
  .object({ week: z.number().int(), total: z.string(), ...byType, activeForkedUnits: z.number().int() })
  .openapi('ProjectionWeek');
const Projection = z
  .object({
    years: z.array(ProjectionYear),
    forks: z.array(z.object({ week: z.number(), amount: z.string() })),
    merges: z.array(z.object({ week: z.number(), amount: z.string() })),
    weeks: z.array(ProjectionWeek).optional(),
  })
  .openapi('Projection');

const OUT_OF_RANGE = {
  422: { description: `The projection would pass ${MAX_EXACT_AMOUNT_TEXT}, the largest amount it computes exactly (the problem says which input to lower)`, schema: Problem },
};
const POOL_REFUSALS = {
  503: {
    description: 'Projections run on worker threads with a bounded queue and a time budget. Problem code ProjectionsBusy: every thread is busy and ' +
      'the queue is full, retry after the Retry-After seconds. Problem code ProjectionBudgetExceeded: the projection did not finish within the ' +
      "server's time budget (queueing included) and was stopped; a smaller request (fewer years or variants) finishes sooner.",
    schema: Problem,
  },
};

/**
 * Runs `run` on the projection pool, answering its refusals with a 503: a
 * full queue with Retry-After (it drains in seconds); a projection over its
 * time budget without (the same request may need as long again). Both are
 * 503, not 422: the limits are this server's (its configuration and its
 * load), not a flaw of the request, which another server, or this one when
 * idle, may well answer.
 */
async function pooled<T>(res: Response, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ProjectionsBusy) {
      res.setHeader('Retry-After', String(err.retryAfterSeconds));
      throw new HttpProblem(503, 'Service Unavailable', err.message, { code: 'ProjectionsBusy', retryAfter: err.retryAfterSeconds });
    }
    if (err instanceof ProjectionBudgetExceeded) {
      throw new HttpProblem(503, 'Service Unavailable', `${err.message}; fewer years or variants finish sooner`, { code: 'ProjectionBudgetExceeded' });
    }
    throw err;
  }
}

/** Input the engine cannot compute exactly: a 422 naming the field to change, never a 500. */
function unprocessable(path: string, detail: string): DomainError {
  return new DomainError('OutOfRange', detail, { path });
}

/**
 * What a 422 names: the field to lower (`years` when some years stayed exact,
 * else `start`, the amounts the projection starts from), a hint for each, and
 * optionally whose projection it was (a comparison's variant).
 */
interface RangeFields {
  years: string;
  start: string;
  startHint: string;
  yearsHint: string;
  subject?: string;
}

/** ProjectionRangeError as a 422 that says what to lower. */
function rangeProblem(err: ProjectionRangeError, fields: RangeFields): DomainError {
  const exactYears = Math.max(err.year - 1, 0);
  const what = fields.subject ? `${fields.subject}: ${err.message}` : err.message;
  if (exactYears === 0) return unprocessable(fields.start, `${what}; ${fields.startHint}`);
  return unprocessable(fields.years, `${what}; ${fields.yearsHint} (it stays exact for ${exactYears} year${exactYears === 1 ? '' : 's'})`);
}

/** Runs a projection, turning ProjectionRangeError into a 422 that says what to lower. */
async function exactly<T>(run: () => Promise<T>, fields: RangeFields): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof ProjectionRangeError)) throw err;
    throw rangeProblem(err, fields);
  }
}

/** A new portfolio's capital, refused up front when the starting amounts alone would be out of range. */
function projectableCapital(initialCapital: string): Decimal {
  const capital = money(initialCapital);
  if (capital.gt(MAX_EXACT_AMOUNT)) {
    throw unprocessable('body.initialCapital', `initialCapital is above ${MAX_EXACT_AMOUNT_TEXT}, the largest amount a projection computes exactly; lower initialCapital`);
  }
  return capital;
}

/**
 * Every variant is a full projection, and a comparison runs as one task on
 * one projection thread: the request's work is capped, well within the time
 * budget.
 */
const MAX_VARIANTS = 8;
const MAX_COMPARE_YEARS = 15;
const MAX_VARIANT_YEARS = 60;
const CompareVariant = z
  .object({ name: z.string().trim().min(1).max(100), ...rules })
  .strict()
  .openapi('ProjectionVariant', { description: 'One set of rules to project: a template (default moderate) and settings overrides on it.' });
const CompareBody = z
  .object({
    ...newPortfolio,
    variants: z.array(CompareVariant).min(1).max(MAX_VARIANTS).openapi({
      description: `1 to ${MAX_VARIANTS} variants with unique names, each projected from the same initialCapital, years, marketMix and seed. ` +
        `years at most ${MAX_COMPARE_YEARS}, and variants × years at most ${MAX_VARIANT_YEARS} (a long projection takes seconds).`,
    }),
  })
  .strict()
  .superRefine((b, ctx) => {
    const seen = new Set<string>();
    b.variants.forEach((v, i) => {
      if (seen.has(v.name)) ctx.addIssue({ code: 'custom', path: ['variants', i, 'name'], message: `the name "${v.name}" is used by another variant; names must be unique` });
      seen.add(v.name);
    });
    if (b.years > MAX_COMPARE_YEARS) {
      ctx.addIssue({ code: 'custom', path: ['years'], message: `a comparison projects at most ${MAX_COMPARE_YEARS} years (one projection, POST /v1/projections, goes to 30)` });
    }
    if (b.variants.length * b.years > MAX_VARIANT_YEARS) {
      ctx.addIssue({
        code: 'custom', path: ['variants'],
        message: `variants × years must be at most ${MAX_VARIANT_YEARS}, here ${b.variants.length} × ${b.years} = ${b.variants.length * b.years}; compare fewer variants or fewer years`,
      });
    }
  })
  .openapi('ProjectionCompareRequest');
const VariantOutcome = z.object({
  name: z.string(),
  total: z.string().openapi({ description: 'The portfolio total after `years` years' }),
  forkedUnits: z.number().int().openapi({ description: 'Forked units still active at the end' }),
  forks: z.number().int(),
  merges: z.number().int(),
  rank: z.number().int().openapi({ description: '1 for the largest total; equal totals are ordered by name' }),
});
type VariantOutcome = z.output<typeof VariantOutcome>;
const Comparison = z.object({ items: z.array(VariantOutcome) }).openapi('ProjectionComparison');

/** Largest total first (compared exactly), equal totals by name; rank is the position. */
function ranked(outcomes: Omit<VariantOutcome, 'rank'>[]): VariantOutcome[] {
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...outcomes]
    .sort((a, b) => new Dec(b.total).cmp(a.total) || byName(a.name, b.name))
    .map((o, i) => ({ ...o, rank: i + 1 }));
}

/** A projection's response, written on the projection thread (src/projection/tasks.ts, documentOf). */
const answer = (d: Document): RouteResult => ({ status: 200, body: d.body, contentType: d.contentType });

export function projectionRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'post', path: '/v1/projections', operationId: 'projectNewPortfolio', tag: 'Projections', role: 'viewer',
    summary: 'What-if: project a new portfolio week by week (?format=csv for weekly rows, ?granularity=week to include them in JSON)',
    query: Output, body: ProjectionBody,
    responses: { 200: { description: 'Projection', schema: Projection }, ...OUT_OF_RANGE, ...POOL_REFUSALS },
    handler: async ({ body, query, res }) => {
      const start = freshStart({ ...body, initialCapital: projectableCapital(body.initialCapital) });
      const options = { years: body.years, marketMix: body.marketMix, seed: body.seed };
      const document = await exactly(() => pooled(res, () => deps.projections.document(start, options, query)), {
        years: 'body.years', yearsHint: 'lower initialCapital or years',
        start: 'body.initialCapital', startHint: 'lower initialCapital',
      });
      return answer(document);
    },
  });

  defineRoute(router, registry, {
    method: 'post', path: '/v1/projections/compare', operationId: 'compareProjections', tag: 'Projections', role: 'viewer',
    summary: `What-if: project up to ${MAX_VARIANTS} variants of a new portfolio from the same start and rank them by total`,
    body: CompareBody,
    responses: { 200: { description: 'The variants, best total first', schema: Comparison }, ...OUT_OF_RANGE, ...POOL_REFUSALS },
    handler: async ({ body, res }) => {
      const initialCapital = projectableCapital(body.initialCapital);
      const starts = body.variants.map((v) => freshStart({ initialCapital, template: v.template, settings: v.settings }));
      const options = { years: body.years, marketMix: body.marketMix, seed: body.seed };
      // One task for every variant, in order: the first out of range is the one the 422 names.
      const compared = await pooled(res, () => deps.projections.compare(starts, options));
      if ('outOfRange' in compared) {
        const { week, variant: i = 0 } = compared.outOfRange;
        const path = `body.variants.${i}`;
        throw rangeProblem(new ProjectionRangeError(week), {
          subject: `variant "${body.variants[i]!.name}"`,
          years: path, yearsHint: "lower initialCapital or years, or change this variant's rules",
          start: path, startHint: "lower initialCapital or change this variant's rules",
        });
      }
      return { status: 200, body: { items: ranked(compared.value.map((summary, i) => ({ name: body.variants[i]!.name, ...summary }))) } };
    },
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios/:id/projection', operationId: 'projectPortfolio', tag: 'Projections', role: 'viewer', summary: "Project an existing portfolio from its current tree",
    params: idParams,
    query: Output.extend({
      years: years.default(10),
      marketMix: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
      seed: z.coerce.number().int().min(0).max(2 ** 31).default(1),
    }),
    responses: { 200: { description: 'Projection', schema: Projection }, ...OUT_OF_RANGE, ...POOL_REFUSALS },
    handler: async ({ params, query, res }) => {
      const start = await deps.projections.startOf(params.id);
      const options = { years: query.years, marketMix: query.marketMix, seed: query.seed };
      const output = { format: query.format, granularity: query.granularity };
      const document = await exactly(() => pooled(res, () => deps.projections.document(start, options, output)), {
        years: 'query.years', yearsHint: 'lower years',
        start: 'params.id', startHint: 'this portfolio is too large to project exactly',
      });
      return answer(document);
    },
  });
}
