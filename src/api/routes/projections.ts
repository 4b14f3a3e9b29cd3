import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type Decimal from 'decimal.js';
import type { Router } from 'express';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { z } from 'zod';
import { DomainError } from '../../domain/errors';
import { Dec, money } from '../../domain/money';
import {
  MAX_EXACT_AMOUNT, MAX_EXACT_AMOUNT_TEXT, type ProjectionInput, type ProjectionResult, ProjectionRangeError, freshStart, project, projectionCsv,
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

/** Runs a projection, turning ProjectionRangeError into a 422 that says what to lower. */
function exactly<T>(run: () => T, fields: RangeFields): T {
  try {
    return run();
  } catch (err) {
    if (!(err instanceof ProjectionRangeError)) throw err;
    const exactYears = Math.max(err.year - 1, 0);
    const what = fields.subject ? `${fields.subject}: ${err.message}` : err.message;
    if (exactYears === 0) throw unprocessable(fields.start, `${what}; ${fields.startHint}`);
    throw unprocessable(fields.years, `${what}; ${fields.yearsHint} (it stays exact for ${exactYears} year${exactYears === 1 ? '' : 's'})`);
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

/** A new portfolio's projection (one request, or one variant of a comparison); 422 past the exact range. */
function projectNew(input: ProjectionInput, fields: RangeFields): ProjectionResult {
  return exactly(() => project(freshStart(input), input), fields);
}

/**
 * Every variant is a full projection, and a projection's cost grows with its
 * tree, geometrically with the years: the request's work is capped.
 */
const MAX_VARIANTS = 8;
/** 15 years of a $300,000 portfolio take about 0.2 s, 20 years a second, 30 years ten (blocking the API meanwhile). */
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

function outcome(name: string, r: ProjectionResult): Omit<VariantOutcome, 'rank'> {
  const last = r.years[r.years.length - 1]!;
  return { name, total: last.total, forkedUnits: last.activeForkedUnits, forks: r.forks.length, merges: r.merges.length };
}

/** Largest total first (compared exactly), equal totals by name; rank is the position. */
function ranked(outcomes: Omit<VariantOutcome, 'rank'>[]): VariantOutcome[] {
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...outcomes]
    .sort((a, b) => new Dec(b.total).cmp(a.total) || byName(a.name, b.name))
    .map((o, i) => ({ ...o, rank: i + 1 }));
}

function render(r: ProjectionResult, out: z.output<typeof Output>): RouteResult {
  if (out.format === 'csv') return { status: 200, body: projectionCsv(r), contentType: 'text/csv; charset=utf-8' };
  return { status: 200, body: out.granularity === 'week' ? r : { years: r.years, forks: r.forks, merges: r.merges } };
}

export function projectionRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'post', path: '/v1/projections', operationId: 'projectNewPortfolio', tag: 'Projections', role: 'viewer',
    summary: 'What-if: project a new portfolio week by week (?format=csv for weekly rows, ?granularity=week to include them in JSON)',
    query: Output, body: ProjectionBody,
    responses: { 200: { description: 'Projection', schema: Projection }, ...OUT_OF_RANGE },
    handler: async ({ body, query }) => {
      const result = projectNew({ ...body, initialCapital: projectableCapital(body.initialCapital) }, {
        years: 'body.years', yearsHint: 'lower initialCapital or years',
        start: 'body.initialCapital', startHint: 'lower initialCapital',
      });
      return render(result, query);
    },
  });

  defineRoute(router, registry, {
    method: 'post', path: '/v1/projections/compare', operationId: 'compareProjections', tag: 'Projections', role: 'viewer',
    summary: `What-if: project up to ${MAX_VARIANTS} variants of a new portfolio from the same start and rank them by total`,
    body: CompareBody,
    responses: { 200: { description: 'The variants, best total first', schema: Comparison }, ...OUT_OF_RANGE },
    handler: async ({ body }) => {
      const initialCapital = projectableCapital(body.initialCapital);
      const outcomes: Omit<VariantOutcome, 'rank'>[] = [];
      for (const [i, variant] of body.variants.entries()) {
        // A long variant takes seconds of CPU: let other requests run between variants.
        if (i > 0) await nextTurn();
        const path = `body.variants.${i}`;
        const input = { initialCapital, years: body.years, marketMix: body.marketMix, seed: body.seed, template: variant.template, settings: variant.settings };
        const result = projectNew(input, {
          subject: `variant "${variant.name}"`,
          years: path, yearsHint: "lower initialCapital or years, or change this variant's rules",
          start: path, startHint: "lower initialCapital or change this variant's rules",
        });
        outcomes.push(outcome(variant.name, result));
      }
      return { status: 200, body: { items: ranked(outcomes) } };
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
